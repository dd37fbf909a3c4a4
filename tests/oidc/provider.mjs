// A real OpenID Provider for Kefu's single sign-on tests: panva's certified
// `oidc-provider`, configured, not faked. The protocol (discovery, JWKS,
// authorization code + PKCE, token endpoint, ID tokens, userinfo) is the
// package's own; only the accounts and the first-party consent are ours.
//
//   node provider.mjs '<json config>'
//
// config: {
//   "clients": [{ "client_id", "client_secret", "redirect_uris": [...],
//                 "token_endpoint_auth_method"?, "id_token_signed_response_alg"? }],
//   "host"?: "127.0.0.1" (the issuer's host; "localhost" gives a second
//            issuer name for the same server)
// }
//
// Prints one line of JSON, {"issuer": "...", "port": N}, once it listens on
// an ephemeral port; stops on SIGTERM or when stdin closes (so a test that
// dies does not leave it behind).
//
// Interactions: oidc-provider's development login form (`login` and
// `password` fields, any password). The login is the account id:
//   - "name@domain": e-mail name@domain, verified (sub: the login);
//   - "unverified+name@domain": the same with email_verified false;
//   - "noemail": no e-mail at all.
// Consent is granted for the registered (first-party) clients, as
// oidc-provider documents for first-party applications.

import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

// stdout carries the one line above and nothing else: the package's own
// notices (console.log/info) go to stderr, so a caller that stops reading
// stdout never makes the provider die of EPIPE.
console.log = console.error;
console.info = console.error;

const config = JSON.parse(process.argv[2] || '{}');
const host = config.host || '127.0.0.1';

function account(id) {
  if (id === 'noemail') return { sub: id, name: 'No E-mail' };
  const unverified = id.startsWith('unverified+');
  const email = unverified ? id.slice('unverified+'.length) : id;
  return {
    sub: id,
    email,
    email_verified: !unverified,
    name: email.split('@')[0].replace(/^./, (c) => c.toUpperCase()),
  };
}

function jwk(type, options, kid, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://${host}:${port}`;
  const provider = new Provider(issuer, {
    clients: (config.clients || []).map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...c,
    })),
    jwks: {
      keys: [
        jwk('rsa', { modulusLength: 2048 }, 'rsa-1', 'RS256'),
        jwk('ec', { namedCurve: 'P-256' }, 'ec-1', 'ES256'),
      ],
    },
    async findAccount(ctx, id) {
      const a = account(id);
      return { accountId: id, claims: async () => a };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['kefu-oidc-test-cookie-key'] },
    pkce: { required: () => true },
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
    async loadExistingGrant(ctx) {
      const { client, session } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email profile');
      grant.addOIDCClaims(['email', 'email_verified', 'name']);
      await grant.save();
      return grant;
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer, port }) + '\n');
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
