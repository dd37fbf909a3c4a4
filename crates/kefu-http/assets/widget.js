/*
 * Kefu visitor widget. A site adds one tag:
 *
 *   <script src="https://HOST/widget.js" data-key="WIDGET_KEY" async></script>
 *
 * Optional attributes: data-locale="zh-CN|en" (else the page's <html lang>,
 * else the browser's language), data-color="#4f46e5" (the accent colour).
 *
 * Everything lives in an OPEN shadow root on a host element appended to
 * <body>, so the page's CSS cannot style the widget and ours cannot leak
 * out. Styles are a constructed stylesheet (adoptedStyleSheets), which a
 * page's Content-Security-Policy does not block, with a <style> element as
 * the fallback for browsers without constructable stylesheets.
 *
 * Reliability model (docs/protocol.md): the server's log is the truth. The
 * widget remembers the highest `seq` it holds (a visitor's seqs have gaps:
 * the agents' private notes), and on every (re)connect asks for everything
 * after it (`sync`); messages are kept by seq, so replays and late frames
 * are never shown twice. What the visitor
 * types goes to an outbox persisted in localStorage, is sent with a
 * `client_msg_id` and leaves the outbox only when acknowledged; a resend
 * after a lost ack is deduplicated by the server.
 *
 * window.Kefu = { open(), close(), toggle(), setUser({name, email, phone}),
 * setAttributes({key: value}) }: the last two tell the agents who the
 * visitor is (sent when the chat session opens, or at once if it is open).
 * The page the visitor is on (and a single-page site's navigations) is
 * reported with the session, for the agents' view of the visit.
 */
(function () {
  'use strict';
  if (window.Kefu && window.Kefu.version) return; // the tag was added twice

  // ---------------------------------------------------------------- setup

  var script = document.currentScript || findScript();
  if (!script) return;
  var KEY = (script.getAttribute('data-key') || '').trim();
  if (!KEY) {
    console.warn('[kefu] widget.js has no data-key: the chat widget is not shown. ' +
      'Copy the snippet from the inbox page of the Kefu console (it adds the key).');
    return;
  }
  var BASE = new URL(script.src, location.href).origin;
  var WS_URL = BASE.replace(/^http/, 'ws') + '/ws';

  /** The widget's own <script> when document.currentScript is unavailable. */
  function findScript() {
    var all = document.querySelectorAll('script[src]');
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|#|$)/.test(all[i].src)) return all[i];
    }
    return null;
  }

  // ----------------------------------------------------------------- i18n

  var STRINGS = {
    en: {
      open: 'Open chat', close: 'Close chat', title: 'Chat with us',
      greeting: 'Hi! How can we help you today?',
      placeholder: 'Type a message…', send: 'Send',
      attach: 'Send a file or a picture', uploading: 'Uploading {name}… {pct}%',
      too_large: 'This file is too large to send.', bad_type: 'This type of file cannot be sent.',
      upload_failed: 'The file could not be sent.',
      agent: 'Agent', bot: 'Assistant', you: 'You',
      typing: '{name} is typing…',
      st_bot: 'Our assistant answers instantly', st_queued: 'Waiting for an agent',
      st_assigned: 'Chatting with {name}', st_resolved: 'This conversation is resolved',
      st_new: 'We usually reply in a few minutes',
      sources: 'Sources', suggest: 'Did you mean:',
      helpful: 'Was this helpful?', yes: 'Yes', no: 'No', fb_thanks: 'Thanks for your feedback!',
      handoff: 'Talk to a person',
      queue_pos: 'You are number {n} in the queue.', queue_wait: 'Estimated wait: about {m} min.',
      queue_soon: 'An agent will be with you shortly.',
      off_title: 'We are away right now',
      off_text: 'Leave your details and a message, and we will get back to you.',
      name: 'Name', email: 'E-mail', phone: 'Phone', message: 'Message',
      off_need: 'Please give an e-mail address or a phone number.',
      off_thanks: 'Thanks! We will get back to you as soon as we can.',
      rate_title: 'How did we do?', rate_star: '{n} of 5', rate_comment: 'Anything to add? (optional)',
      rate_submit: 'Submit', rate_thanks: 'Thanks for your rating!', rated: 'You rated this conversation {n} of 5.',
      offline: 'You are offline. Messages will be sent when you are back.',
      reconnecting: 'Reconnecting…', unavailable: 'Chat is not available right now.',
      pending: 'Sending', sent: 'Sent', read: 'Read', failed: 'Not sent', retry: 'Retry',
      unread: '{n} new messages', error: 'Something went wrong. Please try again.',
      back: 'Back to the chat', loading: 'Loading…', art_gone: 'This article is no longer available.',
      pre_title: 'Before we start', pre_text: 'Please tell us a little about yourself.',
      pre_start: 'Start chatting', pre_need: 'Please fill in the required fields.', required: 'required',
      auto_resolved: 'Closed automatically', back_at: 'Expected reply: {time}',
      blocked: 'Sorry, chat is not available to you.',
      tr_title: 'E-mail me this conversation', tr_send: 'Send', tr_sent: 'Sent. Check your inbox.',
      tr_need: 'Please give a valid e-mail address.', tr_later: 'Sent already. Please try again later.'
    },
    'zh-CN': {
      open: '打开在线客服', close: '关闭在线客服', title: '在线客服',
      greeting: '您好！请问有什么可以帮您？',
      placeholder: '输入消息…', send: '发送',
      attach: '发送文件或图片', uploading: '正在上传 {name}… {pct}%',
      too_large: '文件太大，无法发送。', bad_type: '不支持发送这种类型的文件。',
      upload_failed: '文件发送失败。',
      agent: '客服', bot: '智能助手', you: '我',
      typing: '{name}正在输入…',
      st_bot: '智能助手即时为您解答', st_queued: '正在为您转接人工客服',
      st_assigned: '{name}正在为您服务', st_resolved: '本次会话已结束',
      st_new: '我们通常几分钟内回复',
      sources: '参考文章', suggest: '您是不是想问：',
      helpful: '这个回答有帮助吗？', yes: '有帮助', no: '没帮助', fb_thanks: '感谢您的反馈！',
      handoff: '转人工客服',
      queue_pos: '您当前排在第 {n} 位。', queue_wait: '预计等待约 {m} 分钟。',
      queue_soon: '客服马上就来。',
      off_title: '客服暂时不在线',
      off_text: '请留下联系方式和留言，我们会尽快回复您。',
      name: '姓名', email: '邮箱', phone: '电话', message: '留言',
      off_need: '请填写邮箱或电话。',
      off_thanks: '谢谢！我们会尽快与您联系。',
      rate_title: '请为本次服务评分', rate_star: '{n} 星（满分 5 星）', rate_comment: '还有什么想说的？（选填）',
      rate_submit: '提交评价', rate_thanks: '感谢您的评价！', rated: '您给本次会话打了 {n} 星。',
      offline: '网络已断开，恢复后会自动发送消息。',
      reconnecting: '正在重新连接…', unavailable: '在线客服暂不可用。',
      pending: '发送中', sent: '已发送', read: '已读', failed: '发送失败', retry: '重试',
      unread: '{n} 条新消息', error: '出错了，请稍后再试。',
      back: '返回对话', loading: '加载中…', art_gone: '这篇文章已不存在。',
      pre_title: '开始咨询前', pre_text: '请先留下您的信息，方便我们更好地为您服务。',
      pre_start: '开始咨询', pre_need: '请填写必填项。', required: '必填',
      auto_resolved: '已自动结束', back_at: '预计回复时间：{time}',
      blocked: '抱歉，您暂时无法使用在线客服。',
      tr_title: '把聊天记录发到我的邮箱', tr_send: '发送', tr_sent: '已发送，请查收邮件。',
      tr_need: '请填写有效的邮箱地址。', tr_later: '刚刚已发送过，请稍后再试。'
    }
  };
  var LOCALE = pickLocale();
  var T = STRINGS[LOCALE];

  function pickLocale() {
    var lang = script.getAttribute('data-locale') || document.documentElement.lang ||
      navigator.language || '';
    return /^zh/i.test(lang) ? 'zh-CN' : 'en';
  }

  /** A translated string with {placeholders} filled in. */
  function t(key, vars) {
    return (T[key] || key).replace(/\{(\w+)\}/g, function (_, k) {
      return vars && vars[k] != null ? vars[k] : '';
    });
  }

  // -------------------------------------------------------------- storage

  // localStorage may be unavailable (privacy modes, sandboxed frames): the
  // widget then still works, it just forgets on reload.
  var PREFIX = 'kefu:' + KEY + ':';
  function load(name, fallback) {
    try {
      var v = localStorage.getItem(PREFIX + name);
      return v == null ? fallback : JSON.parse(v);
    } catch (e) { return fallback; }
  }
  function save(name, value) {
    try { localStorage.setItem(PREFIX + name, JSON.stringify(value)); } catch (e) { /* ignore */ }
  }

  // ---------------------------------------------------------------- state

  var state = {
    started: false,
    session: null,        // {token, expiresAt, inbox}
    dead: false,          // the key or the origin was refused: stop trying
    conv: null,           // the visitor's current conversation (visitor DTO)
    msgs: new Map(),      // seq -> message, for conv
    lastSeq: 0,           // highest seq held
    readSent: 0,          // highest seq we told the server we have read
    agentRead: 0,         // highest seq an agent has read (double ticks)
    outbox: load('outbox', []), // [{cid, body, conv, failed?}]
    streams: new Map(),   // message_id -> element of a bot reply being written
    feedback: load('fb', {}),   // message_id -> true/false already given
    agentName: '',
    open: false,
    unread: 0,
    reading: null         // the article shown: {from (its citation), top, bottom}
  };

  // ------------------------------------------------------------------ DOM

  /** Creates an element: h('div', {class: 'x', onclick: f}, child, 'text'). */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v == null || v === false) continue;
      if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c == null || c === false) continue;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }
  function svg(path) {
    var s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    var p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    p.setAttribute('d', path);
    s.appendChild(p);
    return s;
  }
  var ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z';
  var ICON_CLOSE = 'M6 6l12 12M18 6L6 18';
  var ICON_SEND = 'M3 20l18-8L3 4v6l12 2-12 2z';
  var ICON_CLIP = 'M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48';

  var CSS = [
    ':host{all:initial!important;display:block!important}',
    '.k{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;color:#1f2328;',
    '--a:#4f46e5;--bg:#fff;--mute:#667085;--line:#e4e7ec;--soft:#f2f4f7;-webkit-font-smoothing:antialiased}',
    '.k *{box-sizing:border-box;font:inherit;color:inherit;margin:0;letter-spacing:normal;text-transform:none}',
    'button{cursor:pointer;border:0;background:none;padding:0}',
    ':focus-visible{outline:2px solid var(--a);outline-offset:2px}',
    '.launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;',
    'background:var(--a);color:#fff;display:grid;place-items:center;box-shadow:0 6px 20px rgba(16,24,40,.25);transition:transform .15s}',
    '.launch:hover{transform:scale(1.06)}',
    '.launch svg{width:26px;height:26px;fill:#fff}',
    '.launch[aria-expanded=true] svg{fill:none;stroke:#fff;stroke-width:2.4;stroke-linecap:round}',
    '.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#e5484d;',
    'color:#fff;font-size:12px;font-weight:600;line-height:20px;text-align:center}',
    '.panel{position:fixed;right:20px;bottom:88px;z-index:2147483000;width:370px;height:min(620px,calc(100vh - 108px));',
    'background:#fafbfc;border-radius:14px;box-shadow:0 12px 40px rgba(16,24,40,.28);display:flex;flex-direction:column;overflow:hidden}',
    '[hidden]{display:none!important}',
    '.head{background:var(--a);color:#fff;padding:14px 12px 14px 16px;display:flex;gap:10px;align-items:center}',
    '.head .who{flex:1;min-width:0}',
    '.head h2{font-size:16px;font-weight:600}',
    '.head p{font-size:12px;opacity:.9;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    '.x{width:32px;height:32px;border-radius:8px;display:grid;place-items:center}',
    '.x:hover{background:rgba(255,255,255,.15)}',
    '.x svg{width:18px;height:18px;stroke:#fff;stroke-width:2.4;stroke-linecap:round;fill:none}',
    '.av{flex:none;width:32px;height:32px;border-radius:50%;display:grid;place-items:center;font-size:13px;font-weight:600;',
    'background:#e0e7ff;color:#3730a3}',
    '.head .av{background:rgba(255,255,255,.22);color:#fff;width:36px;height:36px}',
    '.av.bot{background:#d1fae5;color:#065f46}',
    '.bar{padding:6px 12px;font-size:12px;background:#fff7e6;color:#8a5300;border-bottom:1px solid #fde7c2}',
    '.list{flex:1;overflow-y:auto;padding:14px 12px;display:flex;flex-direction:column;gap:10px;background:#fafbfc}',
    '.msg{display:flex;gap:8px;align-items:flex-end;max-width:100%}',
    '.msg.me{flex-direction:row-reverse}',
    '.col{display:flex;flex-direction:column;max-width:80%;min-width:0}',
    '.me .col{align-items:flex-end}',
    '.bub{padding:8px 12px;border-radius:14px;background:#fff;border:1px solid var(--line);white-space:pre-wrap;',
    'overflow-wrap:anywhere;border-bottom-left-radius:4px}',
    '.me .bub{background:var(--a);border-color:var(--a);color:#fff;border-bottom-left-radius:14px;border-bottom-right-radius:4px}',
    '.me .bub a{color:#fff}',
    '.bub a,.md a{color:var(--a);text-decoration:underline}',
    '.meta{font-size:11px;color:var(--mute);margin-top:3px;display:flex;gap:6px;align-items:center}',
    '.tick{font-weight:600}',
    '.tick[data-state=read]{color:var(--a)}',
    '.tick[data-state=failed]{color:#d92d20}',
    '.retry{color:var(--a);text-decoration:underline;font-size:11px}',
    '.sys{align-self:center;font-size:12px;color:var(--mute);text-align:center;max-width:90%}',
    '.cites,.sugg,.fb{margin-top:6px;font-size:12px;color:var(--mute)}',
    '.cites ul{list-style:none;padding:0;margin:2px 0 0}',
    '.cites li{color:#1f2328;padding-left:12px;position:relative}',
    '.cites li button{color:var(--a);text-decoration:underline;text-align:left}',
    '.cites li:before{content:"›";position:absolute;left:2px;color:var(--a)}',
    '.chip{display:inline-block;margin:4px 6px 0 0;padding:4px 10px;border-radius:14px;border:1px solid var(--a);color:var(--a);font-size:12px}',
    '.chip:hover,.chip[aria-pressed=true]{background:var(--a);color:#fff}',
    '.fb .chip{padding:2px 10px}',
    '.typing{font-size:12px;color:var(--mute);padding:0 14px 6px;background:#fafbfc}',
    '.dots:after{content:"";animation:d 1.2s steps(4) infinite}',
    '@keyframes d{0%{content:""}25%{content:"."}50%{content:".."}75%{content:"..."}}',
    '.queue{margin:0;padding:8px 14px;font-size:13px;background:#eef2ff;color:#3730a3;border-top:1px solid #e0e7ff}',
    '.handoff{align-self:center;margin:2px 0 8px;padding:6px 14px;border-radius:16px;border:1px solid var(--line);background:#fff;font-size:13px}',
    '.handoff:hover{border-color:var(--a);color:var(--a)}',
    '.foot{border-top:1px solid var(--line);background:#fff}',
    '.comp{display:flex;gap:8px;align-items:flex-end;padding:10px 12px}',
    'textarea,input{width:100%;border:1px solid var(--line);border-radius:10px;padding:8px 10px;background:#fff;resize:none;outline:0}',
    'textarea:focus,input:focus{border-color:var(--a);box-shadow:0 0 0 3px rgba(79,70,229,.2)}',
    'textarea:focus-visible,input:focus-visible{outline:0}',
    '.comp textarea{max-height:120px;min-height:38px;line-height:20px}',
    '.send{flex:none;width:38px;height:38px;border-radius:10px;background:var(--a);display:grid;place-items:center}',
    '.send svg{width:18px;height:18px;fill:#fff}',
    '.send:disabled{opacity:.45;cursor:default}',
    '.att{flex:none;width:38px;height:38px;border-radius:10px;display:grid;place-items:center;color:var(--mute)}',
    '.att:hover{color:var(--a)}',
    '.att svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}',
    '.att-img{display:block;max-width:200px;max-height:200px;border-radius:8px;margin-top:4px;background:#fff}',
    '.file{display:inline-block;margin-top:4px;text-decoration:underline;overflow-wrap:anywhere}',
    '.bub progress{display:block;width:100%;height:4px;margin-top:6px;accent-color:#fff}',
    '.msg[data-failed] .bub{background:#fef3f2;border-color:#fecdca;color:#b42318}',
    '.panel[data-drop]{outline:3px dashed var(--a);outline-offset:-6px}',
    '.card{padding:12px 14px;display:flex;flex-direction:column;gap:8px}',
    '.card h3{font-size:14px;font-weight:600}',
    '.card p{font-size:13px;color:var(--mute)}',
    '.card label{font-size:12px;color:var(--mute);display:flex;flex-direction:column;gap:3px}',
    '.primary{align-self:flex-start;background:var(--a);color:#fff;border-radius:10px;padding:8px 16px;font-weight:600}',
    '.primary:disabled{opacity:.5;cursor:default}',
    '.err{color:#d92d20;font-size:12px}',
    '.stars{display:flex;gap:4px}',
    '.rd>.list,.rd>.typing,.rd>.handoff,.rd>.queue,.rd>.foot{display:none!important}',
    '.art{flex:1;overflow-y:auto;background:#fff;overflow-wrap:anywhere}',
    '.art .back{position:sticky;top:0;width:100%;text-align:left;padding:10px 14px;background:#fff;',
    'border-bottom:1px solid var(--line);color:var(--a);font-weight:600}',
    '.art>div{padding:12px 16px 20px}.art>div,.md{display:flex;flex-direction:column;gap:8px}',
    '.art h3{font-size:16px}.art h3,.md h4,.md h5,.md h6,.md strong{font-weight:600}',
    '.md p{white-space:pre-line}.art [role=status]{color:var(--mute)}.md ul,.md ol{padding-left:20px}.md em{font-style:italic}',
    '.md code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;background:var(--soft);border-radius:4px;padding:1px 4px}',
    '.md pre{background:var(--soft);border-radius:8px;padding:8px 10px;overflow-x:auto;white-space:pre}',
    '.md pre code{padding:0;background:none}',
    '.star{font-size:26px;line-height:1;color:#d0d5dd;padding:2px}',
    '.star[aria-checked=true]{color:#f5a524}',
    '@media (max-width:480px){.panel{inset:0;width:100%;height:100%;border-radius:0}',
    '.k.is-open .launch{display:none}}',
    '@media (prefers-reduced-motion:reduce){.launch{transition:none}.dots:after{animation:none;content:"…"}}'
  ].join('');

  var ui = {};

  /** Builds the host element, the shadow root and the static parts. */
  function buildUi() {
    var host = h('div', { 'data-kefu-widget': '' });
    var root = ui.root = host.attachShadow({ mode: 'open' });
    applyCss(root);
    var color = script.getAttribute('data-color');

    ui.badge = h('span', { class: 'badge', 'data-testid': 'unread', hidden: true });
    ui.launcher = h('button', {
      class: 'launch', type: 'button', 'data-testid': 'launcher', 'aria-label': t('open'),
      'aria-expanded': 'false', 'aria-controls': 'kefu-panel', onclick: toggle
    }, svg(ICON_CHAT), ui.badge);

    ui.title = h('h2', { id: 'kefu-title', text: t('title') });
    ui.status = h('p', { 'data-testid': 'status', text: t('st_new') });
    ui.headAv = h('span', { class: 'av', 'aria-hidden': 'true', text: 'K' });
    ui.bar = h('div', { class: 'bar', 'data-testid': 'conn', role: 'status', hidden: true });
    ui.list = h('div', { class: 'list', 'data-testid': 'messages', role: 'log', 'aria-live': 'polite', tabindex: '0' });
    ui.greetAv = h('span', { class: 'av', 'aria-hidden': 'true', text: 'K' });
    ui.greeting = h('div', { class: 'msg', 'data-testid': 'greeting' }, ui.greetAv,
      h('div', { class: 'col' }, h('div', { class: 'bub', text: t('greeting') })));
    ui.list.appendChild(ui.greeting);
    ui.typing = h('div', { class: 'typing', 'data-testid': 'typing', 'aria-live': 'polite', hidden: true });
    ui.handoff = h('button', { class: 'handoff', type: 'button', 'data-testid': 'handoff', hidden: true, onclick: handoff },
      t('handoff'));
    ui.queue = h('p', { class: 'queue', 'data-testid': 'queue-info', role: 'status', hidden: true });
    ui.input = h('textarea', {
      rows: '1', 'data-testid': 'composer', 'aria-label': t('placeholder'), placeholder: t('placeholder'),
      maxlength: '10000', onkeydown: onComposerKey, oninput: onComposerInput
    });
    ui.send = h('button', { class: 'send', type: 'button', 'data-testid': 'send', 'aria-label': t('send'),
      disabled: true, onclick: sendFromComposer }, svg(ICON_SEND));
    ui.files = h('input', { type: 'file', multiple: true, hidden: true, 'data-testid': 'file-input',
      onchange: function () { uploadFiles(ui.files.files); ui.files.value = ''; } });
    ui.attach = h('button', { class: 'att', type: 'button', 'data-testid': 'attach', 'aria-label': t('attach'),
      title: t('attach'), onclick: function () { ui.files.click(); } }, svg(ICON_CLIP));
    ui.input.addEventListener('paste', function (e) {
      var files = e.clipboardData && e.clipboardData.files;
      if (files && files.length) { e.preventDefault(); uploadFiles(files); }
    });
    ui.composer = h('div', { class: 'comp' }, ui.attach, ui.files, ui.input, ui.send);
    ui.extra = h('div');  // the offline form or the rating card
    ui.foot = h('div', { class: 'foot' }, ui.extra, ui.composer);

    ui.panel = h('div', {
      class: 'panel', id: 'kefu-panel', role: 'dialog', 'aria-labelledby': 'kefu-title', 'data-testid': 'panel',
      hidden: true, onkeydown: onPanelKey,
      // Files dropped on the chat are sent.
      ondragover: function (e) {
        if (e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types || [], 'Files') >= 0) {
          e.preventDefault();
          ui.panel.setAttribute('data-drop', '');
        }
      },
      ondragleave: function () { ui.panel.removeAttribute('data-drop'); },
      ondrop: function (e) {
        ui.panel.removeAttribute('data-drop');
        if (e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files.length) {
          e.preventDefault();
          uploadFiles(e.dataTransfer.files);
        }
      }
    },
      h('div', { class: 'head' }, ui.headAv,
        h('div', { class: 'who' }, ui.title, ui.status),
        h('button', { class: 'x', type: 'button', 'data-testid': 'close', 'aria-label': t('close'), onclick: close },
          svg(ICON_CLOSE))),
      ui.bar, ui.list, ui.typing, ui.handoff, ui.queue, ui.foot);
    ui.art = h('article', { class: 'art', 'data-testid': 'article', 'aria-labelledby': 'kefu-art', hidden: true });
    ui.panel.insertBefore(ui.art, ui.list);

    ui.wrap = h('div', { class: 'k', lang: LOCALE }, ui.panel, ui.launcher);
    if (color && /^#[0-9a-f]{3,8}$/i.test(color)) ui.wrap.style.setProperty('--a', color);
    root.appendChild(ui.wrap);
    document.body.appendChild(host);
  }

  function applyCss(root) {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.appendChild(h('style', { text: CSS }));
    }
  }

  // ------------------------------------------------------ panel behaviour

  function toggle() { return state.open ? close() : open(); }

  function open() {
    if (!ui.panel) return;
    state.open = true;
    ui.panel.hidden = false;
    ui.wrap.classList.add('is-open');
    ui.launcher.setAttribute('aria-expanded', 'true');
    ui.launcher.setAttribute('aria-label', t('close'));
    ui.launcher.replaceChild(svg(ICON_CLOSE), ui.launcher.firstChild);
    try { sessionStorage.setItem(PREFIX + 'open', '1'); } catch (e) { /* ignore */ }
    start();
    scrollDown(true);
    markRead();
    var first = ui.extra.querySelector('input,textarea');
    (ui.composer.hidden && first ? first : ui.input).focus();
  }

  function close() {
    if (!ui.panel || !state.open) return;
    closeArticle(true);
    state.open = false;
    ui.panel.hidden = true;
    ui.wrap.classList.remove('is-open');
    ui.launcher.setAttribute('aria-expanded', 'false');
    ui.launcher.setAttribute('aria-label', t('open'));
    ui.launcher.replaceChild(svg(ICON_CHAT), ui.launcher.firstChild);
    try { sessionStorage.removeItem(PREFIX + 'open'); } catch (e) { /* ignore */ }
    ui.launcher.focus();
  }

  function onPanelKey(e) {
    if (e.key !== 'Escape') return;
    e.stopPropagation();
    if (state.reading) closeArticle();
    else close();
  }

  function onComposerKey(e) {
    // Enter sends; Shift+Enter is a new line; never while an IME composes
    // (Chinese input uses Enter to confirm the candidate).
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendFromComposer();
    }
  }

  function onComposerInput() {
    autosize();
    ui.send.disabled = !ui.input.value.trim();
    typingPulse();
  }

  function autosize() {
    ui.input.style.height = 'auto';
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + 'px';
  }

  function sendFromComposer() {
    var body = ui.input.value.trim();
    if (!body) return;
    ui.input.value = '';
    autosize();
    ui.send.disabled = true;
    typingStop();
    enqueue(body);
    ui.input.focus();
  }

  // ------------------------------------------------------------------ HTTP

  /** JSON over the widget API; a 401 opens a new session and tries once more. */
  async function call(method, path, body, retried) {
    await ensureSession();
    var headers = { authorization: 'Bearer ' + state.session.token };
    // A content-type only with a body: on a GET it would add to what a site's origin must preflight.
    if (body !== undefined) headers['content-type'] = 'application/json';
    var res = await fetch(BASE + '/api/v1' + path, {
      method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body)
    });
    if (res.status === 401 && !retried) {
      state.session = null;
      return call(method, path, body, true);
    }
    var data = null;
    try { data = await res.json(); } catch (e) { /* empty body */ }
    if (data && data.code === 'visitor_blocked') blocked();
    if (!res.ok) throw Object.assign(new Error((data && data.code) || 'http_' + res.status), { status: res.status });
    return data;
  }

  /** The team blocked this visitor (or their network): say so, and stop trying. */
  function blocked() {
    state.dead = true;
    drop();
    ui.composer.hidden = true;
    showBar(t('blocked'));
    ui.bar.setAttribute('data-testid', 'blocked');
  }

  var sessionPromise = null;

  /** A valid visitor session, created (or renewed before it expires) as needed. */
  function ensureSession() {
    var s = state.session;
    if (s && Date.now() < s.expiresAt) return Promise.resolve(s);
    if (!sessionPromise) {
      sessionPromise = createSession().finally(function () { sessionPromise = null; });
    }
    return sessionPromise;
  }

  async function createSession() {
    var req = { widget_key: KEY, locale: LOCALE, page: pageInfo() };
    var vid = load('vid', null);
    if (vid) req.visitor_id = vid;
    var res = await fetch(BASE + '/api/v1/widget/sessions', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req)
    });
    var data = await res.json().catch(function () { return {}; });
    if (!res.ok) {
      if (data.code === 'visitor_blocked') {
        blocked();
        throw new Error(data.code);
      }
      if (res.status === 403 || res.status === 404) {
        state.dead = true;
        console.error('[kefu] the widget cannot start: ' + (data.code || res.status) +
          (res.status === 403 ? ' (add this site to the inbox\'s allowed origins)' : ' (check data-key)'));
        showBar(t('unavailable'));
      }
      throw new Error(data.code || 'session_failed');
    }
    if (!data.visitor_token) throw new Error('session_failed');
    save('vid', data.visitor_id);
    state.session = {
      token: data.visitor_token,
      // Renewed early (a minute, or a tenth of short lifetimes) so a socket
      // is never opened with a dying token.
      expiresAt: Date.now() + data.expires_in * 1000 - Math.min(60000, data.expires_in * 100),
      inbox: data.inbox || {},
      maxUpload: (data.attachments && data.attachments.max_bytes) || 0
    };
    applyInbox(state.session.inbox);
    state.pageSent = location.href;
    flushContact();
    return state.session;
  }

  // ---------------------------------------- the visitor's context and profile

  function pageInfo() {
    var zone = '';
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { /* ignore */ }
    return { url: location.href, title: document.title, referrer: document.referrer || null, time_zone: zone || null };
  }

  /** A single-page site moved to another page: it joins the visit (once the chat session is open). */
  function pageChanged() {
    if (!state.session || state.pageSent === location.href) return;
    state.pageSent = location.href;
    call('POST', '/widget/page-views', { url: location.href, title: document.title }).catch(function () {});
  }

  function watchNavigation() {
    ['pushState', 'replaceState'].forEach(function (name) {
      var orig = history[name];
      if (typeof orig !== 'function') return;
      history[name] = function () {
        var r = orig.apply(this, arguments);
        setTimeout(pageChanged, 0);
        return r;
      };
    });
    window.addEventListener('popstate', function () { setTimeout(pageChanged, 0); });
    window.addEventListener('hashchange', function () { setTimeout(pageChanged, 0); });
  }

  var pendingContact = null;
  function setContact(fields) {
    if (!fields || typeof fields !== 'object') return;
    pendingContact = pendingContact || {};
    Object.keys(fields).forEach(function (k) {
      if (k === 'attributes') {
        pendingContact.attributes = Object.assign(pendingContact.attributes || {}, fields.attributes);
      } else if (fields[k] != null && fields[k] !== '') {
        pendingContact[k] = String(fields[k]);
      }
    });
    if (state.session) flushContact();
  }

  function flushContact() {
    if (!pendingContact) return;
    var body = pendingContact;
    pendingContact = null;
    call('PUT', '/widget/contact', body).catch(function (e) {
      console.warn('[kefu] setUser/setAttributes was refused: ' + ((e && e.message) || e));
    });
  }

  function setUser(u) {
    u = u || {};
    setContact({ name: u.name, email: u.email, phone: u.phone });
  }

  function setAttributes(a) {
    if (!a || typeof a !== 'object') return;
    var clean = {};
    Object.keys(a).forEach(function (k) {
      var v = a[k];
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') clean[k] = v;
    });
    setContact({ attributes: clean });
  }

  function applyInbox(inbox) {
    if (inbox.name) ui.title.textContent = inbox.name;
    ui.greetAv.textContent = initials(inbox.name || 'K');
    if (inbox.greeting) ui.greeting.querySelector('.bub').textContent = inbox.greeting;
    renderChrome();
  }

  // ------------------------------------------------------------- socket

  var sock = null;        // the current WebSocket
  var live = false;       // `hello` received on it
  var attempt = 0;        // reconnects since the last good connection
  var failedOpens = 0;    // sockets that closed before `hello`
  var retryTimer = 0;
  var pingTimer = 0;
  var staleTimer = 0;

  /** Starts the widget's network side once (lazily, or at load for a returning visitor). */
  function start() {
    if (state.started) return;
    state.started = true;
    window.addEventListener('online', function () { reconnectNow(); });
    window.addEventListener('offline', function () { drop(); renderConn(); });
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible') { if (!sock) reconnectNow(); markRead(); }
    });
    renderOutbox();
    connect();
  }

  async function connect() {
    clearTimeout(retryTimer);
    if (sock || state.dead) return;
    if (navigator.onLine === false) { renderConn(); return; } // 'online' reconnects
    try {
      // After two sockets refused before `hello` the token may be the cause
      // (a browser cannot see the upgrade's 401): start a new session.
      if (failedOpens >= 2) { state.session = null; failedOpens = 0; }
      await ensureSession();
    } catch (e) {
      return scheduleReconnect();
    }
    if (sock || state.dead) return;
    var ws = new WebSocket(WS_URL + '?token=' + encodeURIComponent(state.session.token));
    sock = ws;
    live = false;
    ws.onmessage = function (e) {
      if (ws !== sock) return;
      var frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      clearTimeout(staleTimer);
      onFrame(frame);
    };
    ws.onclose = function (ev) {
      if (ws !== sock) return;
      if (!live) failedOpens++;
      // 4002: the visitor token expired; 4001: it no longer counts. A new
      // session (same visitor_id, so the same history), without waiting.
      if (ev && (ev.code === 4001 || ev.code === 4002)) { state.session = null; attempt = 0; }
      // 4003: this visitor was blocked.
      if (ev && ev.code === 4003) return blocked();
      drop();
      scheduleReconnect();
    };
    renderConn();
  }

  /** Forgets the current socket (closing it if still open). */
  function drop() {
    var ws = sock;
    sock = null;
    live = false;
    clearInterval(pingTimer);
    clearTimeout(staleTimer);
    typingOn = false;
    if (ws) { ws.onclose = ws.onmessage = null; try { ws.close(); } catch (e) { /* ignore */ } }
  }

  /** Exponential back-off with jitter: `base` doubled `n` times (at most 30 s), 50–100 % of it. */
  function backoff(base, n) {
    var max = Math.min(30000, base * Math.pow(2, n));
    return max / 2 + Math.random() * max / 2;
  }

  /** Reconnects after 0.5 s, 1 s, 2 s … 30 s (jittered). */
  function scheduleReconnect() {
    renderConn();
    if (state.dead) return;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, backoff(500, attempt++));
  }

  function reconnectNow() {
    if (live) return;
    drop();
    attempt = 0;
    connect();
  }

  function sendFrame(frame) {
    if (!live) return false;
    try { sock.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
  }

  /** Keeps the socket alive and notices a dead one (sleep, network switch). */
  function startHeartbeat(idleSecs) {
    clearInterval(pingTimer);
    var every = Math.max(5, Math.min(25, (idleSecs || 75) / 3)) * 1000;
    pingTimer = setInterval(function () {
      if (!sendFrame({ type: 'ping' })) return;
      clearTimeout(staleTimer);
      staleTimer = setTimeout(function () { drop(); scheduleReconnect(); }, 10000);
    }, every);
  }

  function onFrame(f) {
    switch (f.type) {
      case 'hello': return onHello(f);
      case 'message.ack': return onAck(f);
      case 'message.created': return onCreated(f.message);
      case 'message.delta': return onDelta(f);
      case 'conversation.updated': return onConversation(f.conversation);
      case 'queue': return onQueue(f);
      case 'typing': return onTyping(f);
      case 'read': return onRead(f);
      case 'error': return onError(f);
    }
  }

  async function onHello(f) {
    live = true;
    attempt = 0;
    failedOpens = 0;
    startHeartbeat(f.idle_timeout_secs);
    renderConn();
    // Status changes are not replayed by `sync`: read the conversation list
    // first, then ask for every message after the last one held.
    var before = state.conv && state.conv.id;
    try { await refreshConversations(); } catch (e) { /* the sync below still runs */ }
    // (A newly found conversation was synced from the start already.)
    if (state.conv && state.conv.id === before) syncCurrent();
    flushOutbox();
  }

  /**
   * Asks for every message after the last one held. A few before it are
   * asked again (and dropped as duplicates): two messages committed at the
   * same moment by different writers may have reached us out of order just
   * before the socket died.
   */
  function syncCurrent() {
    if (state.conv) {
      sendFrame({ type: 'sync', conversation_id: state.conv.id, after_seq: Math.max(0, state.lastSeq - 5) });
    }
  }

  // -------------------------------------------------------- conversations

  async function refreshConversations() {
    var data = await call('GET', '/widget/conversations');
    var newest = data.items && data.items[0];
    if (!newest) return;
    setConversation(newest);
  }

  /** Makes `c` the current conversation (a different one starts a fresh list). */
  function setConversation(c) {
    if (!state.conv || state.conv.id !== c.id) {
      state.conv = c;
      resetMessages();
    } else {
      // The visitor view of conversation.updated has no queue: keep ours.
      state.conv = Object.assign({}, state.conv, c);
      if (c.status !== 'queued') state.conv.queue = null;
    }
    renderChrome();
  }

  function resetMessages() {
    state.msgs.clear();
    state.lastSeq = state.readSent = state.agentRead = 0;
    Array.prototype.slice.call(ui.list.querySelectorAll('[data-seq],[data-stream]')).forEach(function (el) { el.remove(); });
    syncCurrent();
  }

  function onConversation(c) {
    if (!c) return;
    if (state.conv && state.conv.id !== c.id && !isNewer(c)) return;
    var wasQueued = state.conv && state.conv.status === 'queued';
    setConversation(c);
    // Its log moved past what we hold (or private notes did): catch up.
    if (c.last_seq > state.lastSeq) syncCurrent();
    // A freshly queued conversation: learn the position (the list carries it).
    if (c.status === 'queued' && !wasQueued) refreshConversations().catch(function () {});
  }

  function isNewer(c) {
    return !state.conv || String(c.created_at) > String(state.conv.created_at);
  }

  function onQueue(f) {
    if (!state.conv || f.conversation_id !== state.conv.id) return;
    state.conv.queue = { position: f.position, estimated_wait_secs: f.estimated_wait_secs };
    renderChrome();
  }

  // ------------------------------------------------------------- messages

  function onCreated(m) {
    if (!m || m.private) return;
    if (!state.conv || state.conv.id !== m.conversation_id) {
      // A message in a conversation we do not show yet: the visitor's first
      // one, or a new one after the old one ended (it is synced from 1).
      if (state.conv && !/resolved|closed/.test(state.conv.status)) return;
      setConversation({ id: m.conversation_id, status: '', created_at: m.created_at, last_seq: m.seq });
      refreshConversations().catch(function () {});
    }
    if (m.client_msg_id) settle(m.client_msg_id);
    var stream = state.streams.get(m.id);
    if (stream) { stream.remove(); state.streams.delete(m.id); }
    if (state.msgs.has(m.seq)) return; // a replay: shown already
    state.msgs.set(m.seq, m);
    if (m.seq > state.lastSeq) state.lastSeq = m.seq;
    var near = nearBottom();
    insertBySeq(renderMessage(m));
    if (m.sender.type !== 'visitor') {
      if (m.sender.type === 'agent') showTyping(false);
      if (m.sender.name && m.sender.type === 'agent') { state.agentName = m.sender.name; renderChrome(); }
      if (!state.open || document.visibilityState !== 'visible') bumpUnread();
    }
    scrollDown(near || m.sender.type === 'visitor');
    markRead();
  }

  function onAck(f) {
    var item = settle(f.client_msg_id);
    if (!state.conv || state.conv.id !== f.conversation_id) {
      setConversation({ id: f.conversation_id, status: '', created_at: new Date().toISOString(), last_seq: f.seq });
      refreshConversations().catch(function () {});
    }
    // Until its message.created arrives, the bubble shows it was stored.
    if (item && item.el && !state.msgs.has(f.seq)) {
      item.el.setAttribute('data-seq', f.seq);
      setTick(item.el, 'sent');
    }
  }

  /** The outbox item `cid` is stored: remove it from the outbox. */
  function settle(cid) {
    settledIds.add(cid);
    var i = state.outbox.findIndex(function (o) { return o.cid === cid; });
    if (i < 0) {
      // Perhaps another tab's: drop it from the shared copy too.
      if (load('outbox', []).some(function (o) { return o.cid === cid; })) saveOutbox();
      return null;
    }
    var item = state.outbox.splice(i, 1)[0];
    item.el = pendingEls.get(cid);
    pendingEls.delete(cid);
    if (item.el) item.el.removeAttribute('data-pending');
    saveOutbox();
    return item;
  }

  function onDelta(f) {
    if (!state.conv || f.conversation_id !== state.conv.id) return;
    var el = state.streams.get(f.message_id);
    if (!el) {
      el = messageShell({ type: 'bot' }, 'them');
      el.setAttribute('data-stream', f.message_id);
      state.streams.set(f.message_id, el);
      ui.list.appendChild(el);
    }
    var near = nearBottom();
    el.querySelector('.bub').textContent += f.delta;
    scrollDown(near);
  }

  function onTyping(f) {
    if (!state.conv || f.conversation_id !== state.conv.id || !f.who || f.who.type === 'visitor') return;
    showTyping(f.on, f.who.type);
  }

  function onRead(f) {
    if (!state.conv || f.conversation_id !== state.conv.id || !f.who || f.who.type === 'visitor') return;
    if (f.seq > state.agentRead) {
      state.agentRead = f.seq;
      ui.list.querySelectorAll('.me[data-id]').forEach(function (el) {
        if (+el.getAttribute('data-seq') <= f.seq) setTick(el, 'read');
      });
    }
  }

  function onError(f) {
    if (f.code === 'visitor_blocked') return blocked();
    if (!f.ref) {
      if (f.code === 'events_missed') syncCurrent();
      return;
    }
    var item = state.outbox.find(function (o) { return o.cid === f.ref; });
    if (!item) return;
    if (f.code === 'conversation_closed' || f.code === 'conversation_not_found') {
      // Start a new conversation with it.
      item.conv = null;
      saveOutbox();
      sendFrame(sendFrameFor(item));
    } else if (f.code === 'validation_failed' || f.code === 'invalid_frame') {
      item.failed = true;
      saveOutbox();
      var el = pendingEls.get(item.cid);
      if (el) setTick(el, 'failed');
    } else if (/^(internal|timeout|rate_limited|unavailable)$/.test(f.code)) {
      // Passing (a database outage): the socket stays open, so resend on it,
      // same client_msg_id, after 1 s, 2 s … 30 s (jittered) or `retry_after`.
      clearTimeout(item.timer);
      item.timer = setTimeout(function () {
        if (state.outbox.indexOf(item) >= 0 && !item.failed) sendFrame(sendFrameFor(item));
      }, Math.max(f.retry_after * 1000 || 0, backoff(500, item.tries = (item.tries | 0) + 1)));
    }
    // Anything else is retried on reconnect.
  }

  // --------------------------------------------------------------- outbox

  var pendingEls = new Map(); // cid -> element
  var settledIds = new Set(); // cids known to be stored

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'w' + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  /** Queues a visitor message: shown at once, sent now or on reconnect. */
  function enqueue(body, file) {
    var c = state.conv;
    var item = { cid: newId(), body: body, conv: c && c.status !== 'closed' ? c.id : null };
    // A file already uploaded: its id, and what the pending bubble shows.
    if (file) item.file = { id: file.id, name: file.filename, type: file.content_type };
    state.outbox.push(item);
    saveOutbox();
    showPending(item);
    scrollDown(true);
    start();
    if (!sendFrame(sendFrameFor(item)) && !sock) reconnectNow();
  }

  function sendFrameFor(item) {
    var f = { type: 'message.send', client_msg_id: item.cid, body: item.body };
    if (item.conv) f.conversation_id = item.conv;
    if (item.file) f.attachment_ids = [item.file.id];
    return f;
  }

  /**
   * Sends everything unacknowledged, oldest first (the server keeps socket
   * frames in order) — including what other tabs queued, in case they were
   * closed before they got back online (a double send is stored once).
   */
  function flushOutbox() {
    load('outbox', []).forEach(function (o) {
      if (settledIds.has(o.cid) || state.outbox.some(function (x) { return x.cid === o.cid; })) return;
      state.outbox.push(o);
      showPending(o);
    });
    state.outbox.forEach(function (item) { if (!item.failed) sendFrame(sendFrameFor(item)); });
  }

  /**
   * Stores the outbox. Other tabs of the site share it: their unsent items
   * are kept (unless this tab saw them stored), so a tab never drops what
   * another one queued while offline.
   */
  function saveOutbox() {
    var mine = state.outbox.map(function (o) { return { cid: o.cid, body: o.body, conv: o.conv, failed: o.failed, file: o.file }; });
    var ours = new Set(mine.map(function (o) { return o.cid; }));
    var others = load('outbox', []).filter(function (o) { return !ours.has(o.cid) && !settledIds.has(o.cid); });
    save('outbox', others.concat(mine));
  }

  function renderOutbox() {
    state.outbox.forEach(showPending);
  }

  function showPending(item) {
    if (pendingEls.has(item.cid)) return;
    var el = messageShell({ type: 'visitor' }, 'me');
    el.setAttribute('data-pending', '');
    el.setAttribute('data-cid', item.cid);
    if (item.body) el.querySelector('.bub').appendChild(linkify(item.body));
    if (item.file) el.querySelector('.bub').appendChild(h('span', { class: 'file', text: item.file.name }));
    setTick(el, item.failed ? 'failed' : 'pending');
    pendingEls.set(item.cid, el);
    ui.list.appendChild(el);
  }

  function retry(el) {
    var item = state.outbox.find(function (o) { return o.cid === el.getAttribute('data-cid'); });
    if (!item) return;
    item.failed = false;
    saveOutbox();
    setTick(el, 'pending');
    sendFrame(sendFrameFor(item));
  }

  // ------------------------------------------------------------ rendering

  /** "Teapot & Co." → "TC"; "王小明" → "王". */
  function initials(name) {
    var words = String(name || '').match(/[\p{L}\p{N}]+/gu) || ['?'];
    if (/\p{Script=Han}/u.test(words[0][0])) return words[0][0];
    return words.slice(0, 2).map(function (w) { return w[0]; }).join('').toUpperCase();
  }

  function senderName(sender) {
    if (sender.type === 'bot') return t('bot');
    if (sender.type === 'visitor') return t('you');
    return sender.name || state.agentName || t('agent');
  }

  /** The frame of a message: avatar, bubble, meta line. */
  function messageShell(sender, side) {
    var col = h('div', { class: 'col' }, h('div', { class: 'bub' }), h('div', { class: 'meta' }));
    var el = h('div', { class: 'msg ' + side, 'data-testid': 'message', 'data-sender': sender.type }, col);
    if (side === 'them') {
      el.insertBefore(h('span', {
        class: 'av' + (sender.type === 'bot' ? ' bot' : ''), title: senderName(sender), 'aria-hidden': 'true',
        text: sender.type === 'bot' ? 'AI' : initials(senderName(sender))
      }), col);
    }
    return el;
  }

  function renderMessage(m) {
    if (m.sender.type === 'system') {
      return h('div', { class: 'sys', 'data-testid': 'message', 'data-sender': 'system', 'data-seq': m.seq, 'data-id': m.id },
        m.body);
    }
    var mine = m.sender.type === 'visitor';
    var el = messageShell(m.sender, mine ? 'me' : 'them');
    el.setAttribute('data-seq', m.seq);
    el.setAttribute('data-id', m.id);
    if (m.client_msg_id) el.setAttribute('data-cid', m.client_msg_id);
    var bub = el.querySelector('.bub');
    // The bot answers in Markdown (an article's, or a model's); people write plain text.
    if (m.sender.type === 'bot') bub.appendChild(markdown(h('div', { class: 'md' }), m.body));
    else if (m.body) bub.appendChild(linkify(m.body));
    (m.attachments || []).forEach(function (a) { bub.appendChild(renderFile(a)); });
    if (m.citations && m.citations.length) bub.appendChild(renderCitations(m.citations));
    if (m.suggestions && m.suggestions.length) bub.appendChild(renderSuggestions(m.suggestions));
    if (m.feedback) bub.appendChild(renderFeedback(m));
    if (m.next_open_at) {
      bub.appendChild(h('p', { class: 'back-at', 'data-testid': 'back-at',
        text: t('back_at', { time: backAt(m.next_open_at) }) }));
    }
    if (m.auto_reply === 'auto_resolve') el.setAttribute('data-auto', 'auto_resolve');
    var meta = el.querySelector('.meta');
    meta.appendChild(h('time', { datetime: m.created_at, text: clock(m.created_at) }));
    if (!mine) meta.insertBefore(h('span', { text: senderName(m.sender) }), meta.firstChild);
    if (mine) {
      // Replaces the pending bubble of the same message, if any.
      var pending = m.client_msg_id && pendingEls.get(m.client_msg_id);
      if (pending) { pending.remove(); pendingEls.delete(m.client_msg_id); }
      ui.list.querySelectorAll('[data-cid="' + cssEscape(m.client_msg_id || '') + '"]:not([data-id])')
        .forEach(function (x) { x.remove(); });
      setTick(el, m.seq <= state.agentRead ? 'read' : 'sent');
    }
    return el;
  }

  /** When the team is back, in the visitor's language and zone. */
  function backAt(iso) {
    var d = new Date(iso);
    try {
      return new Intl.DateTimeFormat(LOCALE, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(d);
    } catch (e) { return d.toLocaleString(); }
  }

  /** The cited articles: each one opens in the panel. */
  /** A file in a message: a picture shown (opens full size), or a link to download. */
  function renderFile(a) {
    var href = a.url ? BASE + a.url : null;
    if (/^image\//.test(a.content_type) && href) {
      return h('a', { href: href, target: '_blank', rel: 'noopener', 'data-testid': 'attachment' },
        h('img', { class: 'att-img', src: href, alt: a.filename }));
    }
    return h('a', { class: 'file', href: href, download: a.filename, target: '_blank', rel: 'noopener',
      'data-testid': 'attachment', text: a.filename + ' (' + size(a.bytes) + ')' });
  }

  function size(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return Math.round(n / 1024) + ' KB';
    return (n / 1048576).toFixed(1) + ' MB';
  }

  // ----------------------------------------------------------------- files

  /** Uploads each file with a progress bar in its own bubble, then sends it as a message. */
  function uploadFiles(list) {
    Array.prototype.forEach.call(list, uploadOne);
  }

  function uploadOne(file) {
    var el = messageShell({ type: 'visitor' }, 'me');
    el.setAttribute('data-upload', '');
    var bub = el.querySelector('.bub');
    var label = h('span', { text: t('uploading', { name: file.name, pct: 0 }) });
    var bar = h('progress', { max: '100', value: '0', 'data-testid': 'upload-progress' });
    bub.appendChild(label);
    bub.appendChild(bar);
    ui.list.appendChild(el);
    scrollDown(true);
    start();
    ensureSession()
      .then(function () {
        // Refused here: sending it would only be cut off by the server.
        var limit = state.session.maxUpload;
        if (limit && file.size > limit) throw Object.assign(new Error('too_large'), { status: 413 });
        return xhrUpload(file, function (pct) {
          bar.value = pct;
          label.textContent = t('uploading', { name: file.name, pct: pct });
        }, false);
      })
      .then(function (a) {
        el.remove();
        enqueue('', a);
      })
      .catch(function (e) {
        bar.remove();
        el.setAttribute('data-failed', '');
        label.textContent = file.name + ': ' +
          t(e.status === 413 ? 'too_large' : e.status === 415 ? 'bad_type' : 'upload_failed');
      });
  }

  /** POST /widget/attachments with upload progress (fetch has none); a 401 renews the session once. */
  function xhrUpload(file, onPct, retried) {
    return new Promise(function (ok, fail) {
      var x = new XMLHttpRequest();
      x.open('POST', BASE + '/api/v1/widget/attachments');
      x.setRequestHeader('authorization', 'Bearer ' + state.session.token);
      x.upload.onprogress = function (e) { if (e.lengthComputable) onPct(Math.round(e.loaded * 100 / e.total)); };
      x.onload = function () {
        var d = null;
        try { d = JSON.parse(x.responseText); } catch (err) { /* not JSON */ }
        if (x.status === 201) return ok(d);
        if (x.status === 401 && !retried) {
          state.session = null;
          return ensureSession().then(function () { return xhrUpload(file, onPct, true); }).then(ok, fail);
        }
        fail(Object.assign(new Error((d && d.code) || 'http_' + x.status), { status: x.status }));
      };
      x.onerror = function () { fail(Object.assign(new Error('network'), { status: 0 })); };
      var form = new FormData();
      form.append('file', file, file.name);
      x.send(form);
    });
  }

  function renderCitations(list) {
    return h('div', { class: 'cites', 'data-testid': 'citations' }, t('sources'),
      h.apply(null, ['ul', null].concat(list.map(function (c) {
        return h('li', null, h('button', { type: 'button', 'data-testid': 'citation', 'data-article-id': c.article_id,
          text: c.title, onclick: function () { openArticle(c.article_id, this); } }));
      }))));
  }

  // ------------------------------------------------------------- articles

  /** Shows article `id` instead of the chat; its citation `from` gets the focus back. */
  async function openArticle(id, from) {
    var mine = state.reading = { from: from, top: ui.list.scrollTop, bottom: nearBottom() };
    var head = h('h3', { id: 'kefu-art', tabindex: '-1', 'data-testid': 'article-title', text: from.textContent });
    var note = h('p', { role: 'status', 'data-testid': 'article-status', text: t('loading') });
    var body = h('div', { class: 'md', 'data-testid': 'article-body' });
    ui.art.textContent = '';
    ui.art.setAttribute('aria-busy', 'true');
    ui.art.appendChild(h('button', { class: 'back', type: 'button', 'data-testid': 'article-back',
      onclick: function () { closeArticle(); } }, h('span', { 'aria-hidden': 'true', text: '‹ ' }), t('back')));
    ui.art.appendChild(h('div', null, head, note, body));
    ui.art.hidden = false;
    ui.panel.classList.add('rd');
    ui.art.scrollTop = 0;
    head.focus();
    try {
      var a = await call('GET', '/widget/articles/' + encodeURIComponent(id));
      if (state.reading !== mine) return;
      head.textContent = a.title;
      note.remove();
      markdown(body, a.body || '');
    } catch (e) {
      if (state.reading !== mine) return;
      note.className = 'err';
      note.setAttribute('role', 'alert');
      note.textContent = e.status === 404 ? t('art_gone') : t('error');
    }
    ui.art.removeAttribute('aria-busy');
  }

  /** Back to the chat, scrolled as it was (or to the bottom, for what came meanwhile). */
  function closeArticle(quiet) {
    var r = state.reading;
    if (!r) return;
    state.reading = null;
    ui.art.hidden = true;
    ui.art.textContent = '';
    ui.panel.classList.remove('rd');
    ui.list.scrollTop = r.bottom ? ui.list.scrollHeight : r.top;
    if (quiet) return;
    markRead();
    (r.from.isConnected ? r.from : ui.input).focus({ preventScroll: true });
  }

  /** Safe Markdown into `el` (returned): DOM nodes, never HTML; links only to http(s) and mailto (others are text). */
  function markdown(el, src) {
    var lines = String(src).replace(/\r\n?/g, '\n').split('\n');
    var para = [], list = null, m;
    function flush() {
      if (para.length) el.appendChild(inline(h('p'), para.join('\n')));
      para = [];
      list = null;
    }
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (/^\s*```/.test(line)) {
        flush();
        var code = [];
        for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) code.push(lines[i]);
        el.appendChild(h('pre', null, h('code', { text: code.join('\n') })));
      } else if (!line.trim()) {
        flush();
      } else if ((m = /^\s*(#{1,6})\s+(.*?)[\s#]*$/.exec(line))) {
        flush();
        el.appendChild(inline(h('h' + Math.min(6, m[1].length + 3)), m[2]));
      } else if ((m = /^\s*(?:[-*+]|(\d{1,9})[.)])\s+(.*)$/.exec(line))) {
        var tag = m[1] ? 'ol' : 'ul';
        if (para.length || !list || list.tagName.toLowerCase() !== tag) {
          flush();
          list = el.appendChild(h(tag));
        }
        list.appendChild(inline(h('li'), m[2]));
      } else if (list && /^\s{2,}\S/.test(line)) {
        inline(list.lastChild, ' ' + line.trim());
      } else {
        list = null;
        para.push(line);
      }
    }
    flush();
    return el;
  }

  /** Inline Markdown of `text` appended to `el` (`plain`: no links, inside one). */
  function inline(el, text, plain) {
    // Link text and URL are bounded: unbounded, each `[` of a line of
    // thousands would scan the rest of the line (seconds for 50,000).
    var re = /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\[([^\]\n]{1,500})\]\(((?:[^()\s]|\([^()\s]*\)){1,2000})\)|\*([^*\n]+)\*|\b_([^_\n]+)_\b|(https?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]}。，！？）])/g;
    var last = 0, m;
    while ((m = re.exec(text))) {
      el.appendChild(document.createTextNode(text.slice(last, m.index)));
      last = re.lastIndex;
      if (m[1]) el.appendChild(h('code', { text: m[1] }));
      else if (m[2]) el.appendChild(inline(h('strong'), m[2], plain));
      else if (m[5] || m[6]) el.appendChild(inline(h('em'), m[5] || m[6], plain));
      else if (m[3]) {
        el.appendChild(!plain && /^(https?:\/\/|mailto:)/i.test(m[4])
          ? inline(h('a', { href: m[4], target: '_blank', rel: 'noopener noreferrer' }), m[3], true)
          : inline(h('span'), m[3], plain));
      } else el.appendChild(plain ? document.createTextNode(m[7])
        : h('a', { href: m[7], target: '_blank', rel: 'noopener noreferrer', text: m[7] }));
    }
    el.appendChild(document.createTextNode(text.slice(last)));
    return el;
  }

  /** Offered articles: choosing one asks it as the next question. */
  function renderSuggestions(list) {
    return h.apply(null, ['div', { class: 'sugg', 'data-testid': 'suggestions' }, h('div', { text: t('suggest') })]
      .concat(list.map(function (s) {
        return h('button', { class: 'chip', type: 'button', 'data-testid': 'suggestion', text: s.title,
          onclick: function () { enqueue(s.title); } });
      })));
  }

  function renderFeedback(m) {
    var box = h('div', { class: 'fb', 'data-testid': 'feedback' });
    var given = state.feedback[m.id];
    if (given != null) { box.textContent = t('fb_thanks'); return box; }
    function answer(helpful) {
      return async function () {
        box.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
        try {
          await call('POST', '/widget/conversations/' + m.conversation_id + '/messages/' + m.id + '/feedback',
            { helpful: helpful });
          state.feedback[m.id] = helpful;
          save('fb', trimMap(state.feedback));
          box.textContent = t('fb_thanks');
          box.setAttribute('data-given', helpful ? 'yes' : 'no');
        } catch (e) {
          box.querySelectorAll('button').forEach(function (b) { b.disabled = false; });
        }
      };
    }
    box.appendChild(h('span', { text: t('helpful') + ' ' }));
    box.appendChild(h('button', { class: 'chip', type: 'button', 'data-testid': 'feedback-yes', onclick: answer(true) }, t('yes')));
    box.appendChild(h('button', { class: 'chip', type: 'button', 'data-testid': 'feedback-no', onclick: answer(false) }, t('no')));
    return box;
  }

  /** Keeps a stored map small (the most recent 100 entries). */
  function trimMap(map) {
    var keys = Object.keys(map);
    keys.slice(0, Math.max(0, keys.length - 100)).forEach(function (k) { delete map[k]; });
    return map;
  }

  /** Text with http(s) links made clickable; never HTML. */
  function linkify(text) {
    var frag = document.createDocumentFragment();
    var re = /https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}。，！？）]/g;
    var last = 0, m;
    while ((m = re.exec(text))) {
      frag.appendChild(document.createTextNode(text.slice(last, m.index)));
      frag.appendChild(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer nofollow', text: m[0] }));
      last = m.index + m[0].length;
    }
    frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  function setTick(el, st) {
    var meta = el.querySelector('.meta');
    var tick = meta.querySelector('.tick');
    if (!tick) {
      tick = h('span', { class: 'tick', 'data-testid': 'tick' });
      meta.appendChild(tick);
    }
    tick.setAttribute('data-state', st);
    tick.setAttribute('aria-label', t(st));
    tick.title = t(st);
    tick.textContent = st === 'pending' ? '○' : st === 'sent' ? '✓' : st === 'read' ? '✓✓' : '!';
    var btn = meta.querySelector('.retry');
    if (st === 'failed' && !btn) {
      meta.appendChild(h('button', { class: 'retry', type: 'button', 'data-testid': 'retry', text: t('retry'),
        onclick: function () { retry(el); } }));
    } else if (st !== 'failed' && btn) btn.remove();
  }

  /** Messages stay in seq order whatever order they arrive in; pending ones stay last. */
  function insertBySeq(el) {
    var seq = +el.getAttribute('data-seq');
    var nodes = ui.list.querySelectorAll('[data-seq],[data-pending],[data-stream]');
    for (var i = 0; i < nodes.length; i++) {
      var n = nodes[i];
      if (n.hasAttribute('data-pending') || n.hasAttribute('data-stream') || +n.getAttribute('data-seq') > seq) {
        ui.list.insertBefore(el, n);
        return;
      }
    }
    ui.list.appendChild(el);
  }

  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleTimeString(LOCALE, { hour: '2-digit', minute: '2-digit' });
  }

  function nearBottom() {
    return ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 60;
  }
  function scrollDown(force) {
    if (force) ui.list.scrollTop = ui.list.scrollHeight;
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
  }

  // ----------------------------------------------- header, queue, extras

  /** Everything that follows the conversation's status. */
  function renderChrome() {
    var c = state.conv;
    var inbox = (state.session && state.session.inbox) || {};
    var status = c ? c.status : '';
    var name = state.agentName || t('agent');
    ui.status.textContent = status === 'bot' ? t('st_bot') : status === 'queued' ? t('st_queued')
      : status === 'assigned' ? t('st_assigned', { name: name })
        : status === 'resolved' || status === 'closed' ? t('st_resolved') : t('st_new');
    ui.headAv.textContent = status === 'assigned' ? initials(name) : initials(inbox.name || 'K');
    ui.handoff.hidden = status !== 'bot';
    renderQueue();
    renderExtra();
  }

  function renderQueue() {
    var c = state.conv;
    var q = c && c.status === 'queued' ? c.queue : null;
    ui.queue.hidden = !(c && c.status === 'queued');
    if (ui.queue.hidden) return;
    var text = q && q.position ? t('queue_pos', { n: q.position }) : '';
    text += ' ' + (q && q.estimated_wait_secs != null
      ? t('queue_wait', { m: Math.max(1, Math.round(q.estimated_wait_secs / 60)) }) : t('queue_soon'));
    ui.queue.textContent = text.trim();
    if (q && q.position) ui.queue.setAttribute('data-position', q.position);
  }

  /** Below the list: the offline form, the rating card, or nothing. */
  function renderExtra() {
    var want = wantsPrechat() ? 'prechat' : wantsOfflineForm() ? 'form' : wantsRating() ? 'rating' : '';
    // (The rating card belongs to one conversation.)
    var kind = want === 'rating' ? want + ':' + state.conv.id : want;
    if (ui.extra.getAttribute('data-kind') === kind) return;
    ui.extra.setAttribute('data-kind', kind);
    var focused = ui.extra.contains(ui.root.activeElement) || ui.root.activeElement === ui.input;
    ui.extra.textContent = '';
    ui.composer.hidden = want === 'form' || want === 'prechat';
    if (want === 'prechat') ui.extra.appendChild(prechatForm(state.session.inbox.prechat_form));
    if (want === 'form') ui.extra.appendChild(offlineForm());
    if (want === 'rating') {
      ui.extra.appendChild(ratingCard());
      if (state.session && state.session.inbox.transcript_by_email) ui.extra.appendChild(transcriptCard());
    }
    // Keep the keyboard where the visitor was typing.
    if (focused) (want === 'form' || want === 'prechat' ? ui.extra.querySelector('input') : ui.input).focus();
  }

  /** The inbox's pre-chat form applies (the session says when) and this visitor has not started yet. */
  function wantsPrechat() {
    var inbox = state.session && state.session.inbox;
    return !!(inbox && inbox.prechat_form && !state.conv && !state.outbox.length && !load('prechat', false));
  }

  function prechatForm(spec) {
    var err = h('p', { class: 'err', role: 'alert', 'data-testid': 'prechat-error' });
    var kinds = { name: ['text', 'name', '200'], email: ['email', 'email', '254'], phone: ['tel', 'tel', '40'] };
    var inputs = spec.fields.map(function (f) {
      var k = kinds[f.key] || ['text', 'off', '500'];
      var label = f.label || t(f.key);
      var attrs = { name: f.key, type: k[0], autocomplete: k[1], maxlength: k[2], 'data-testid': 'prechat-' + f.key };
      if (f.required) { attrs.required = true; attrs['aria-required'] = 'true'; }
      return { f: f, el: field(f.required ? label + ' *' : label, attrs) };
    });
    var form = h.apply(null, ['form', { class: 'card', 'data-testid': 'prechat-form', novalidate: true },
      h('h3', { text: t('pre_title') }), h('p', { text: t('pre_text') })]
      .concat(inputs.map(function (i) { return i.el; }))
      .concat([err, h('button', { class: 'primary', type: 'submit', 'data-testid': 'prechat-submit', text: t('pre_start') })]));
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      var body = {};
      var attrs = {};
      var missing = null;
      spec.fields.forEach(function (f) {
        var v = form.elements[f.key].value.trim();
        if (f.required && !v && !missing) missing = form.elements[f.key];
        if (!v) return;
        if (kinds[f.key]) body[f.key] = v; else attrs[f.key] = v;
      });
      if (missing) { err.textContent = t('pre_need'); missing.focus(); return; }
      if (Object.keys(attrs).length) body.attributes = attrs;
      form.querySelector('button').disabled = true;
      try {
        if (Object.keys(body).length) await call('PUT', '/widget/contact', body);
        save('prechat', true);
        renderExtra();
        ui.input.focus();
      } catch (ex) {
        err.textContent = t('error');
        form.querySelector('button').disabled = false;
      }
    });
    return form;
  }

  function wantsOfflineForm() {
    var inbox = state.session && state.session.inbox;
    if (!inbox || inbox.agents_available || inbox.offline_mode !== 'form' || load('contact', false)) return false;
    var c = state.conv;
    // With a bot, the form is for when the visitor asks for a person.
    return !inbox.bot_enabled || !!(c && c.status === 'queued');
  }

  function wantsRating() {
    var c = state.conv;
    return !!(c && (c.status === 'resolved' || c.status === 'closed'));
  }

  function field(label, attrs) {
    var input = h(attrs.rows ? 'textarea' : 'input', attrs);
    return h('label', null, label, input);
  }

  function offlineForm() {
    var err = h('p', { class: 'err', role: 'alert', 'data-testid': 'offline-error' });
    var form = h('form', { class: 'card', 'data-testid': 'offline-form', novalidate: true },
      h('h3', { text: t('off_title') }), h('p', { text: t('off_text') }),
      field(t('name'), { name: 'name', autocomplete: 'name', maxlength: '200', 'data-testid': 'offline-name' }),
      field(t('email'), { name: 'email', type: 'email', autocomplete: 'email', maxlength: '320', 'data-testid': 'offline-email' }),
      field(t('phone'), { name: 'phone', type: 'tel', autocomplete: 'tel', maxlength: '50', 'data-testid': 'offline-phone' }),
      field(t('message'), { name: 'message', rows: '3', required: true, maxlength: '10000', 'data-testid': 'offline-message' }),
      err,
      h('button', { class: 'primary', type: 'submit', 'data-testid': 'offline-submit', text: t('send') }));
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      var v = function (n) { return form.elements[n].value.trim(); };
      if (!v('email') && !v('phone')) { err.textContent = t('off_need'); return; }
      if (!v('message')) { form.elements.message.focus(); return; }
      form.querySelector('button').disabled = true;
      try {
        var contact = {};
        ['name', 'email', 'phone'].forEach(function (n) { if (v(n)) contact[n] = v(n); });
        await call('PUT', '/widget/contact', contact);
        save('contact', true);
        enqueue(v('message'));
        renderExtra();
        ui.extra.insertBefore(h('p', { class: 'card', role: 'status', 'data-testid': 'offline-thanks', text: t('off_thanks') }),
          ui.extra.firstChild);
        ui.input.focus();
      } catch (ex) {
        err.textContent = t('error');
        form.querySelector('button').disabled = false;
      }
    });
    return form;
  }

  function ratingCard() {
    var c = state.conv;
    if (c.rating) {
      return h('p', { class: 'card', 'data-testid': 'rating-done', text: t('rated', { n: c.rating.score }) });
    }
    var score = 0;
    var stars = h('div', { class: 'stars', role: 'radiogroup', 'aria-label': t('rate_title') });
    var comment = h('textarea', { rows: '2', maxlength: '2000', 'data-testid': 'rating-comment', 'aria-label': t('rate_comment'),
      placeholder: t('rate_comment') });
    var submit = h('button', { class: 'primary', type: 'button', 'data-testid': 'rating-submit', disabled: true, text: t('rate_submit') });
    var err = h('p', { class: 'err', role: 'alert' });
    function pick(n) {
      score = n;
      submit.disabled = false;
      stars.querySelectorAll('button').forEach(function (b, i) {
        b.setAttribute('aria-checked', String(i < n));
        b.tabIndex = i + 1 === n ? 0 : -1;
      });
    }
    for (var i = 1; i <= 5; i++) {
      stars.appendChild(h('button', {
        class: 'star', type: 'button', role: 'radio', 'aria-checked': 'false', tabindex: i === 1 ? '0' : '-1',
        'data-testid': 'rating-star', 'data-value': i, 'aria-label': t('rate_star', { n: i }), text: '★',
        onclick: pick.bind(null, i),
        onkeydown: function (e) {
          var d = e.key === 'ArrowRight' || e.key === 'ArrowUp' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowDown' ? -1 : 0;
          if (!d) return;
          e.preventDefault();
          var n = Math.min(5, Math.max(1, (score || 0) + d));
          pick(n);
          stars.children[n - 1].focus();
        }
      }));
    }
    submit.addEventListener('click', async function () {
      submit.disabled = true;
      var body = { score: score };
      if (comment.value.trim()) body.comment = comment.value.trim();
      try {
        var r = await call('POST', '/widget/conversations/' + c.id + '/rating', body);
        state.conv.rating = r || body;
        card.replaceWith(h('p', { class: 'card', role: 'status', 'data-testid': 'rating-thanks', text: t('rate_thanks') }));
      } catch (e) {
        err.textContent = t('error');
        submit.disabled = false;
      }
    });
    var card = h('div', { class: 'card', 'data-testid': 'rating' }, h('h3', { text: t('rate_title') }), stars, comment, err, submit);
    return card;
  }

  /** "E-mail me this conversation": to the address given (kept on the contact if it had none). */
  function transcriptCard() {
    var c = state.conv;
    var email = h('input', { type: 'email', name: 'email', autocomplete: 'email', maxlength: '254',
      'data-testid': 'transcript-email', 'aria-label': t('email'), placeholder: t('email') });
    var send = h('button', { type: 'submit', 'data-testid': 'transcript-send', text: t('tr_send') });
    var note = h('p', { class: 'err', role: 'status', 'data-testid': 'transcript-status' });
    var form = h('form', { class: 'card transcript', 'data-testid': 'transcript', novalidate: true },
      h('h3', { text: t('tr_title') }), email, note, send);
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      send.disabled = true;
      note.textContent = '';
      var body = { locale: LOCALE };
      if (email.value.trim()) body.email = email.value.trim();
      try {
        await call('POST', '/widget/conversations/' + c.id + '/transcript', body);
        note.className = 'ok';
        note.textContent = t('tr_sent');
      } catch (ex) {
        note.textContent = ex.status === 422 ? t('tr_need') : ex.status === 429 ? t('tr_later') : t('error');
        send.disabled = false;
      }
    });
    return form;
  }

  // ------------------------------------------------------------- handoff

  async function handoff() {
    if (!state.conv) return;
    ui.handoff.disabled = true;
    try {
      var c = await call('POST', '/widget/conversations/' + state.conv.id + '/handoff', { locale: LOCALE });
      onConversation(c);
    } catch (e) {
      showBar(t('error'));
      setTimeout(renderConn, 4000);
    } finally {
      ui.handoff.disabled = false;
    }
  }

  // --------------------------------------------------- typing, read, unread

  var typingOn = false;
  var typingTimer = 0;
  var theirTypingTimer = 0;

  /** Tells the agent we are typing; "off" after 3 s without a key. */
  function typingPulse() {
    if (!state.conv) return;
    if (!typingOn && ui.input.value.trim()) {
      typingOn = sendFrame({ type: 'typing', conversation_id: state.conv.id, on: true });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(typingStop, 3000);
  }

  function typingStop() {
    clearTimeout(typingTimer);
    if (typingOn && state.conv) sendFrame({ type: 'typing', conversation_id: state.conv.id, on: false });
    typingOn = false;
  }

  function showTyping(on, who) {
    clearTimeout(theirTypingTimer);
    ui.typing.hidden = !on;
    if (!on) return;
    ui.typing.textContent = '';
    ui.typing.appendChild(h('span', { class: 'dots', text: t('typing', { name: who === 'bot' ? t('bot') : state.agentName || t('agent') }) }));
    // A lost "off" must not leave it on forever.
    theirTypingTimer = setTimeout(function () { ui.typing.hidden = true; }, 8000);
  }

  /** Tells the server what the visitor has seen (agents get read receipts). */
  function markRead() {
    if (!state.open || state.reading || document.visibilityState !== 'visible' || !state.conv) return;
    state.unread = 0;
    renderUnread();
    if (state.lastSeq > state.readSent && sendFrame({ type: 'read', conversation_id: state.conv.id, seq: state.lastSeq })) {
      state.readSent = state.lastSeq;
    }
  }

  function bumpUnread() {
    state.unread++;
    renderUnread();
  }

  function renderUnread() {
    ui.badge.hidden = !state.unread;
    ui.badge.textContent = state.unread > 99 ? '99+' : String(state.unread);
    ui.badge.setAttribute('aria-label', t('unread', { n: state.unread }));
  }

  // ------------------------------------------------------ connection bar

  function renderConn() {
    if (state.dead) return;
    if (!state.started) return showBar('');
    if (navigator.onLine === false) return showBar(t('offline'));
    showBar(!live && attempt > 0 ? t('reconnecting') : '');
  }

  function showBar(text) {
    ui.bar.hidden = !text;
    ui.bar.textContent = text;
  }

  // ---------------------------------------------------------------- boot

  function boot() {
    buildUi();
    window.Kefu = { version: 1, open: open, close: close, toggle: toggle, setUser: setUser, setAttributes: setAttributes };
    watchNavigation();
    var reopen = false;
    try { reopen = !!sessionStorage.getItem(PREFIX + 'open'); } catch (e) { /* ignore */ }
    // A returning visitor connects at once (replies arrive while the page is
    // open); a first-time one only when they open the chat.
    if (reopen) open();
    else if (load('vid', null) || state.outbox.length) start();
  }

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot);
})();
