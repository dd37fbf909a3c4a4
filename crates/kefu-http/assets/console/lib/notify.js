// "A conversation was just assigned to you": a short sound, a toast and,
// when the agent allowed it (asked only from a button, never on load), a
// desktop notification while the tab is hidden.
//
// We know which conversations were already ours from
// GET …/conversations?assignee_id=<me>&status=assigned (per workspace, at
// start and after each reconnect), and watch `conversation.updated` frames.

import { api } from './api.js';
import { t } from './i18n.js';
import { h, toast, icon } from './dom.js';
import { navigate } from './router.js';

const SOUND_STORE = 'kefu.sound';

export function createNotifier({ me, socket }) {
  const mine = new Set();
  let audio = null;
  const soundOn = () => localStorage.getItem(SOUND_STORE) !== 'off';

  async function seed() {
    for (const ws of me.workspaces || []) {
      try {
        const page = await api('GET', `/workspaces/${ws.id}/conversations?assignee_id=${me.user.id}&status=assigned&limit=200`);
        for (const c of page.items) mine.add(c.id);
      } catch {
        /* a role or network problem: we only miss a notification */
      }
    }
  }

  function beep() {
    if (!soundOn()) return;
    try {
      audio = audio || new AudioContext();
      if (audio.state === 'suspended') audio.resume();
      const now = audio.currentTime;
      for (const [i, freq] of [880, 1320].entries()) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, now + i * 0.15);
        gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.15 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.15 + 0.14);
        osc.connect(gain).connect(audio.destination);
        osc.start(now + i * 0.15);
        osc.stop(now + i * 0.15 + 0.15);
      }
    } catch {
      /* no audio: fine */
    }
  }

  function announce(conv) {
    const hash = `#/inbox/${conv.id}`;
    beep();
    const link = h('a', { href: hash }, t('notify.open'));
    toast(h('span', null, t('notify.assigned'), ' ', link), 'info');
    if ('Notification' in window && Notification.permission === 'granted' && document.visibilityState !== 'visible') {
      const n = new Notification(t('notify.title'), { body: t('notify.assigned'), tag: conv.id });
      n.onclick = () => {
        window.focus();
        navigate(hash);
        n.close();
      };
    }
  }

  const offUpdated = socket.on('conversation.updated', ({ conversation: c }) => {
    if (!c) return;
    const ours = c.assignee_id === me.user.id && c.status === 'assigned';
    if (ours && !mine.has(c.id)) {
      mine.add(c.id);
      announce(c);
    } else if (!ours) {
      mine.delete(c.id);
    }
  });
  const offHidden = socket.on('conversation.hidden', ({ conversation_id }) => mine.delete(conversation_id));
  const offReconnect = socket.on('reconnected', seed);
  seed();

  /** The bell: sound on/off and the polite permission request. */
  function button() {
    const sound = h('input', {
      type: 'checkbox',
      checked: soundOn(),
      'on:change': (e) => {
        localStorage.setItem(SOUND_STORE, e.target.checked ? 'on' : 'off');
        if (e.target.checked) beep();
      },
    });
    const desk = h('div', { class: 'notify-desktop' });
    function showDesktop() {
      desk.replaceChildren();
      if (!('Notification' in window)) {
        desk.append(h('p', { class: 'muted' }, t('notify.unsupported')));
      } else if (Notification.permission === 'default') {
        desk.append(
          h('p', { class: 'muted' }, t('notify.why')),
          h('button', {
            type: 'button',
            class: 'btn btn-sm btn-primary',
            'on:click': async () => {
              await Notification.requestPermission();
              showDesktop();
            },
          }, t('notify.enable')),
        );
      } else {
        desk.append(h('p', { class: 'muted' }, t('notify.permission.' + Notification.permission)));
      }
    }
    showDesktop();
    return h(
      'details',
      { class: 'popover notify-popover' },
      h('summary', { class: 'btn btn-ghost btn-sm', 'aria-label': t('notify.settings'), title: t('notify.settings') }, icon('bell')),
      h('div', { class: 'popover-body' }, h('label', { class: 'check' }, sound, t('notify.sound')), desk),
    );
  }

  return {
    button,
    destroy() {
      offUpdated();
      offHidden();
      offReconnect();
    },
  };
}
