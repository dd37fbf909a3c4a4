// Bot settings (GET/PATCH …/bot/settings): answer and suggest thresholds,
// extra hand-off phrases, the unhelpful-answer limit and the import
// evaluation gate; with "test the bot" beside them to try a threshold, and
// under them the threshold curve of an uploaded evaluation file
// (bot-curve.js), whose points fill the thresholds in.

import { h, clear, toast } from '../../lib/dom.js';
import { t } from '../../lib/i18n.js';
import {
  wsPath, pageFrame, card, field, input, busy, loadingEl, errorEl, showFieldErrors, clearErrors, lines, lifecycle, toggle,
} from './common.js';
import { askBox } from './bot-ask.js';
import { curveCard } from './bot-curve.js';

export default {
  path: '#/admin/bot',
  nav: 'nav.bot',
  roles: ['owner', 'admin'],
  render(root, ctx) {
    const life = lifecycle();
    render(root, ctx, life);
    return life.stop;
  },
};

async function render(root, ctx, life) {
  const { body } = pageFrame(root, t('admin.bot.title'), t('admin.bot.intro'));
  body.append(loadingEl());
  let settings;
  try {
    settings = await ctx.api('GET', wsPath(ctx, '/bot/settings'));
  } catch (e) {
    if (life.alive()) clear(body).append(errorEl(e, () => render(root, ctx, life)));
    return;
  }
  if (!life.alive()) return;
  const form = settingsForm(ctx, settings);
  const curve = curveCard(ctx, form.querySelector('input[name=answer_threshold]'), form.querySelector('input[name=suggest_threshold]'));
  clear(body).append(h('div', { class: 'kb-layout' }, form, askBox(ctx)), curve);
}

/** A number input for a threshold in [0, 1]. */
function threshold(name, value) {
  return input(name, String(value), { type: 'number', min: 0, max: 1, step: 0.01, inputmode: 'decimal', required: true });
}

function settingsForm(ctx, s) {
  const answer = threshold('answer_threshold', s.answer_threshold);
  const suggest = threshold('suggest_threshold', s.suggest_threshold);
  const phrases = h('textarea', { class: 'textarea', name: 'handoff_phrases', rows: 4 }, s.handoff_phrases.join('\n'));
  const maxUnhelpful = input('max_unhelpful', String(s.max_unhelpful), { type: 'number', min: 0, max: 100, step: 1, inputmode: 'numeric' });
  const gate = s.eval_gate;
  const gateOn = toggle('eval_gate_on', t('admin.bot.gateOn'), !!gate);
  const gateQuestions = h('textarea', { class: 'textarea mono', name: 'eval_gate', rows: 5, spellcheck: 'false',
    placeholder: '{"question": "怎么退货？", "expected_external_id": "returns"}' }, gate ? gate.questions : '');
  const minHit = threshold('min_hit_at_1', gate ? gate.min_hit_at_1 : 0.8);
  const minOff = threshold('min_off_topic_handoff', gate ? gate.min_off_topic_handoff : 0);
  const gateFields = h('div', { class: 'stack-sm' },
    field(t('admin.bot.gateQuestions'), gateQuestions, t('admin.bot.gateQuestionsHint')),
    h('div', { class: 'grid-2' }, field(t('admin.bot.minHit'), minHit), field(t('admin.bot.minOffTopic'), minOff)));
  const syncGate = () => { gateFields.hidden = !gateOn.input.checked; };
  gateOn.input.addEventListener('change', syncGate);
  syncGate();

  const error = h('div', { class: 'form-error', role: 'alert' });
  const save = h('button', { class: 'btn btn-primary', type: 'submit' }, t('action.save'));
  const form = h('form', { class: 'stack bot-form', novalidate: true },
    h('div', { class: 'grid-2' },
      field(t('admin.bot.answerThreshold'), answer, t('admin.bot.answerHint')),
      field(t('admin.bot.suggestThreshold'), suggest, t('admin.bot.suggestHint'))),
    field(t('admin.bot.phrases'), phrases, t('admin.bot.phrasesHint')),
    field(t('admin.bot.maxUnhelpful'), maxUnhelpful, t('admin.bot.maxUnhelpfulHint')),
    h('fieldset', { class: 'fieldset stack-sm' }, h('legend', { class: 'label' }, t('admin.bot.gate')),
      h('p', { class: 'hint' }, t('admin.bot.gateHint')), gateOn, gateFields),
    error,
    h('div', { class: 'row' }, save));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form, error);
    const a = Number(answer.value);
    const sg = Number(suggest.value);
    const bad = {};
    if (!(a >= 0 && a <= 1) || answer.value === '') bad.answer_threshold = 'out_of_range';
    if (!(sg >= 0 && sg <= 1) || suggest.value === '') bad.suggest_threshold = 'out_of_range';
    else if (sg > a) bad.suggest_threshold = 'suggest_above_answer';
    const mu = Number(maxUnhelpful.value);
    if (!Number.isInteger(mu) || mu < 0) bad.max_unhelpful = 'out_of_range';
    if (gateOn.input.checked && !gateQuestions.value.trim()) bad.eval_gate = 'required';
    if (Object.keys(bad).length) {
      showFieldErrors(form, error, { code: 'validation_failed', details: { fields: bad } });
      return;
    }
    const patch = {
      answer_threshold: a,
      suggest_threshold: sg,
      handoff_phrases: lines(phrases.value),
      max_unhelpful: mu,
      eval_gate: gateOn.input.checked
        ? { questions: gateQuestions.value.trim(), min_hit_at_1: Number(minHit.value), min_off_topic_handoff: Number(minOff.value) }
        : null,
    };
    await busy(save, async () => {
      await ctx.api('PATCH', wsPath(ctx, '/bot/settings'), patch);
      toast(t('admin.saved'), 'success');
    }, (err) => showFieldErrors(form, error, err));
  });
  return card(t('admin.bot.settings'), form).el;
}
