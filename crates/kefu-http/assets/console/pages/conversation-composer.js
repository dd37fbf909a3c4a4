// The reply box: Enter sends, Shift+Enter is a new line (and Enter while an
// input method is composing Chinese text only confirms the text). Typing
// `/` opens the canned responses (GET …/canned-responses), filtered by the
// shortcut typed after it; ↑/↓ choose, Enter or Tab insert, Esc closes
// (ARIA combobox + listbox). A toggle turns the box into a private note.
// Drafts survive switching conversations (sessionStorage).

import { h, uid, icon } from '../lib/dom.js';
import { t } from '../lib/i18n.js';

const TYPING_EVERY = 3000;
const TYPING_IDLE = 4000;

export function createComposer({ ctx, dir, conversationId, onSend, onAttach }) {
  const draftKey = `kefu.draft.${conversationId}`;
  const listId = uid('canned');
  let isNote = false;
  let canned = null; // loaded on the first '/'
  let matches = [];
  let activeIdx = -1;
  let lastTyping = 0;
  let idleTimer = null;

  const input = h('textarea', {
    class: 'textarea composer-input',
    rows: '3',
    name: 'body',
    'aria-label': t('conv.composer'),
    placeholder: t('conv.composerPlaceholder'),
    role: 'combobox',
    'aria-autocomplete': 'list',
    'aria-expanded': 'false',
    'aria-controls': listId,
    'aria-haspopup': 'listbox',
  });
  input.value = sessionStorage.getItem(draftKey) || '';
  const pop = h('ul', { class: 'canned-pop', id: listId, role: 'listbox', 'aria-label': t('conv.canned'), hidden: true });
  const noteBtn = h('button', {
    class: 'btn btn-sm btn-ghost note-toggle',
    type: 'button',
    'aria-pressed': 'false',
    title: t('conv.privateHint'),
    'on:click': () => setNote(!isNote),
  }, icon('lock'), t('conv.noteToggle'));
  const sendBtn = h('button', { class: 'btn btn-primary btn-sm', type: 'submit' }, t('conv.send'));
  // Files: chosen, or pasted into the box; each is sent as its own message.
  const fileInput = h('input', { type: 'file', multiple: true, class: 'sr-only', tabindex: '-1', 'aria-hidden': 'true' });
  const attachBtn = h('button', {
    class: 'btn btn-sm btn-ghost attach-btn',
    type: 'button',
    title: t('conv.attachHint'),
    'on:click': () => fileInput.click(),
  }, icon('clip'), t('conv.attach'));
  fileInput.addEventListener('change', () => {
    attach([...fileInput.files]);
    fileInput.value = '';
  });
  input.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length) {
      e.preventDefault();
      attach(files);
    }
  });
  function attach(files) {
    if (input.disabled) return;
    for (const f of files) onAttach(f, isNote);
  }
  const closedNote = h('p', { class: 'muted small', hidden: true }, t('conv.closedComposer'));
  const form = h(
    'form',
    { class: 'composer', 'on:submit': (e) => (e.preventDefault(), submit()) },
    h('div', { class: 'composer-box' }, input, pop),
    h('div', { class: 'composer-foot' }, noteBtn, attachBtn, fileInput, h('span', { class: 'spacer' }), closedNote, sendBtn),
  );

  function setNote(on) {
    isNote = on;
    noteBtn.setAttribute('aria-pressed', String(on));
    form.classList.toggle('is-note', on);
    input.placeholder = t(on ? 'conv.notePlaceholder' : 'conv.composerPlaceholder');
    sendBtn.textContent = t(on ? 'conv.addNote' : 'conv.send');
    input.focus();
  }

  function submit() {
    const body = input.value.trim();
    if (!body || input.disabled) return;
    onSend(body, isNote);
    input.value = '';
    sessionStorage.removeItem(draftKey);
    closePop();
    typingOff();
    input.focus();
  }

  // ---------- typing frames ----------
  function typingOn() {
    const now = Date.now();
    if (now - lastTyping > TYPING_EVERY) {
      lastTyping = now;
      ctx.socket.send({ type: 'typing', conversation_id: conversationId, on: true, private: isNote });
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(typingOff, TYPING_IDLE);
  }

  function typingOff() {
    clearTimeout(idleTimer);
    if (lastTyping) ctx.socket.send({ type: 'typing', conversation_id: conversationId, on: false, private: isNote });
    lastTyping = 0;
  }

  // ---------- canned responses ----------
  /** The `/word` right before the caret, or null. */
  function slashToken() {
    const upto = input.value.slice(0, input.selectionStart);
    const m = /(^|\s)\/([^\s/]*)$/.exec(upto);
    return m ? { start: upto.length - m[2].length - 1, query: m[2].toLowerCase() } : null;
  }

  async function updatePop() {
    const tok = slashToken();
    if (!tok) return closePop();
    if (!canned) {
      canned = [];
      try {
        canned = await dir.cannedResponses();
      } catch {
        canned = [];
      }
      if (!slashToken()) return closePop();
    }
    const q = tok.query;
    matches = canned
      .filter((c) => !q || c.shortcut.toLowerCase().startsWith(q) || (c.title || '').toLowerCase().includes(q))
      .sort((a, b) => Number(!a.shortcut.toLowerCase().startsWith(q)) - Number(!b.shortcut.toLowerCase().startsWith(q)))
      .slice(0, 8);
    activeIdx = matches.length ? 0 : -1;
    renderPop();
  }

  function renderPop() {
    pop.replaceChildren();
    if (!matches.length) {
      pop.append(h('li', { class: 'canned-empty muted', role: 'option', 'aria-disabled': 'true' }, t('conv.cannedEmpty')));
    }
    matches.forEach((c, i) => {
      pop.append(
        h(
          'li',
          {
            id: `${listId}-${i}`,
            role: 'option',
            class: 'canned-item',
            'aria-selected': String(i === activeIdx),
            'on:mousedown': (e) => {
              e.preventDefault(); // keep the focus in the textarea
              choose(i);
            },
          },
          h('span', { class: 'canned-short mono' }, '/' + c.shortcut),
          c.title ? h('span', { class: 'canned-title' }, c.title) : null,
          h('span', { class: 'canned-body muted small truncate' }, c.body),
        ),
      );
    });
    pop.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    if (activeIdx >= 0) {
      input.setAttribute('aria-activedescendant', `${listId}-${activeIdx}`);
      const el = pop.children[activeIdx];
      if (el && el.scrollIntoView) el.scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  }

  function closePop() {
    pop.hidden = true;
    matches = [];
    activeIdx = -1;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  }

  function choose(i) {
    const c = matches[i];
    const tok = slashToken();
    if (!c || !tok) return closePop();
    const before = input.value.slice(0, tok.start);
    const after = input.value.slice(input.selectionStart);
    input.value = before + c.body + after;
    const caret = before.length + c.body.length;
    input.setSelectionRange(caret, caret);
    saveDraft();
    closePop();
    input.focus();
  }

  function saveDraft() {
    if (input.value) sessionStorage.setItem(draftKey, input.value);
    else sessionStorage.removeItem(draftKey);
  }

  input.addEventListener('input', () => {
    saveDraft();
    updatePop();
    if (input.value.trim()) typingOn();
    else typingOff();
  });
  input.addEventListener('blur', () => setTimeout(closePop, 150));
  input.addEventListener('keydown', (e) => {
    const open = !pop.hidden;
    if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp') && matches.length) {
      e.preventDefault();
      const n = matches.length;
      activeIdx = (activeIdx + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      renderPop();
      return;
    }
    if (open && e.key === 'Escape') {
      e.preventDefault();
      closePop();
      return;
    }
    // An input method (pinyin…) uses Enter to confirm its text: not a send.
    if (e.isComposing || e.keyCode === 229) return;
    if (open && (e.key === 'Enter' || e.key === 'Tab') && activeIdx >= 0) {
      e.preventDefault();
      choose(activeIdx);
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      submit();
    }
  });

  return {
    el: form,
    focus: () => input.focus(),
    /** Inserts text at the caret (bot suggestions). */
    insert(text) {
      const start = input.selectionStart ?? input.value.length;
      const end = input.selectionEnd ?? input.value.length;
      const before = input.value.slice(0, start);
      const sep = before && !/\s$/.test(before) ? '\n' : '';
      input.value = before + sep + text + input.value.slice(end);
      const caret = (before + sep + text).length;
      input.focus();
      input.setSelectionRange(caret, caret);
      saveDraft();
    },
    setClosed(closed) {
      input.disabled = closed;
      sendBtn.disabled = closed;
      noteBtn.disabled = closed;
      attachBtn.disabled = closed;
      closedNote.hidden = !closed;
    },
    destroy() {
      typingOff();
    },
  };
}
