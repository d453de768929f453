// The OpenID provider scrim-oidc's tests sign in against: panva's certified `oidc-provider`
// (https://github.com/panva/node-oidc-provider) in a normal configuration, on loopback.
//
// Started by tests/oidc_provider.rs as `node provider.mjs`; configured by environment:
//   SCRIM_OIDC_CLIENT_ID, SCRIM_OIDC_CLIENT_SECRET, SCRIM_OIDC_REDIRECT_URI  (required)
//   SCRIM_OIDC_PORT          port to listen on (default 0: the OS chooses)
//   SCRIM_OIDC_AUTH_METHOD   the client's token_endpoint_auth_method (client_secret_basic)
//   SCRIM_OIDC_ID_TOKEN_ALG  the client's id_token_signed_response_alg (RS256)
//   SCRIM_OIDC_CLAIMS_IN_ID_TOKEN=1  put scope claims in the ID token too (conformIdTokenClaims
//                            off); by default, as the library does, they are only at userinfo
// Once listening it prints one JSON line on stdout: {"issuer":"http://127.0.0.1:PORT"}.
// Signing keys are generated at every start, so a restart on the same port is a key rotation.
//
// Sign-in goes through the library's own development interactions (devInteractions): a login
// form at /interaction/:uid that takes an account id (any password), then a consent form.
// Accounts are the static ACCOUNTS below; findAccount refuses any other id.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const ACCOUNTS = {
  alice: {
    email: 'alice@example.test',
    email_verified: true,
    name: 'Alice Example',
    groups: ['scrim-admins', 'staff'],
  },
  bob: {
    email: 'bob@example.test',
    email_verified: false,
    name: 'Bob Example',
    groups: ['staff'],
  },
};

function env(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback === undefined) {
      throw new Error(`${name} must be set`);
    }
    return fallback;
  }
  return value;
}

function signingKey(type, options, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

const clientId = env('SCRIM_OIDC_CLIENT_ID');
const clientSecret = env('SCRIM_OIDC_CLIENT_SECRET');
const redirectUri = env('SCRIM_OIDC_REDIRECT_URI');
const port = Number(env('SCRIM_OIDC_PORT', '0'));
const authMethod = env('SCRIM_OIDC_AUTH_METHOD', 'client_secret_basic');
const idTokenAlg = env('SCRIM_OIDC_ID_TOKEN_ALG', 'RS256');
const claimsInIdToken = env('SCRIM_OIDC_CLAIMS_IN_ID_TOKEN', '0') === '1';

// Fresh key ids per start, so that a restarted provider's keys are unknown to a client that
// cached the previous set.
const run = randomBytes(6).toString('hex');
const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, `rsa-${run}`),
    signingKey('ec', { namedCurve: 'P-256' }, `ec-${run}`),
  ],
};

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: authMethod,
        id_token_signed_response_alg: idTokenAlg,
      },
    ],
    jwks,
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    conformIdTokenClaims: !claimsInIdToken,
    // Every client must use PKCE, not only public ones (the library's default).
    pkce: { required: () => true },
    async findAccount(_ctx, id) {
      const account = ACCOUNTS[id];
      if (!account) {
        return undefined;
      }
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...account };
        },
      };
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

// The test kills this process when it is done; a closed stdin (the test runner died) ends it too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
