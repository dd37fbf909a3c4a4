// The admin pages, in sidebar order (the shell imports `pages`).
// Inboxes come first: creating one is the first-run path.

import '../../i18n/admin.js';
import inboxes from './inboxes.js';
import kb from './kb.js';
import bot from './bot.js';
import canned from './canned.js';
import members from './members.js';
import teams from './teams.js';
import tokens from './tokens.js';
import audit from './audit.js';

export const pages = [inboxes, kb, bot, canned, members, teams, tokens, audit];
