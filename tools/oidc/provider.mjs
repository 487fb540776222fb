// A real OpenID provider for the pages' sign-in tests: panva's oidc-provider (certified by
// the OpenID Foundation), with a login screen of its own where any login name signs in
// (the package's development screens load a web font from the internet).
// Never an identity provider for people: tests only.
//
//   node provider.mjs <port> <redirect_uri> <audience> [area] [<login>=<role>:<area> ...]
//
// One public client, `muster-pages` (PKCE, no secret), may sign in. Access tokens for the
// resource <audience> are JWTs (RS256, keys at <issuer>/jwks) carrying what Muster's
// services read besides `sub`: `role` and `area` (the scope). The accounts named on the
// command line (e.g. `desk-li=organiser:130203001`) have their own role and area, as an
// organisation's directory gives its staff; any other login is a `volunteer` of [area]
// (default 1302).
import Provider from "oidc-provider";

const ACCOUNT = /^([A-Za-z0-9._-]{1,64})=(volunteer|organiser|leader|admin):([0-9]{4,16})$/;
const [port, redirectUri, audience, ...rest] = process.argv.slice(2);
const area = rest[0] && !rest[0].includes("=") ? rest.shift() : "1302";
const directory = new Map();
for (const entry of rest) {
  const match = entry.match(ACCOUNT);
  if (!match) {
    console.error(`not an account <login>=<role>:<area>: ${entry}`);
    process.exit(2);
  }
  directory.set(match[1], { role: match[2], area: match[3] });
}
if (!port || !redirectUri || !audience) {
  console.error("usage: node provider.mjs <port> <redirect_uri> <audience> [area] [<login>=<role>:<area> ...]");
  process.exit(2);
}
// What the directory says of a login: its role and area claims.
const claimsOf = (login) => directory.get(login) || { role: "volunteer", area };
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: "muster-pages",
    token_endpoint_auth_method: "none",
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
  }],
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // Opaque subjects, as Muster asks of an identity provider: the login name typed in.
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, ...claimsOf(sub) }) }),
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => audience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => {
        if (resource !== audience) throw new Error(`unknown resource ${resource}`);
        return { scope: "openid", audience, accessTokenFormat: "jwt", accessTokenTTL: 3600,
                 jwt: { sign: { alg: "RS256" } } };
      },
    },
  },
  extraTokenClaims: async (_ctx, token) => claimsOf(token.accountId),
  // The consent of a first-party client is implied: grant what it asked for.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid");
    grant.addResourceScope(audience, "openid");
    await grant.save();
    return grant;
  },
});
const LOGIN_PAGE = (uid) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test identity provider</title></head><body>
<h1>Test identity provider</h1>
<form method="post" action="/interaction/${uid}">
  <label for="login">Login</label> <input id="login" name="login" required autofocus>
  <button type="submit" class="login-submit">Sign in</button>
</form></body></html>`;

async function formOf(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// The login screen: any login name is an account whose subject is that name.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([\w-]+)$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === "GET") {
    ctx.type = "html";
    ctx.set("Content-Security-Policy", "default-src 'none'; form-action 'self' http://127.0.0.1:*");
    ctx.body = LOGIN_PAGE(details.uid);
    return undefined;
  }
  const login = (await formOf(ctx.req)).get("login");
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(login || "")) {
    ctx.status = 400;
    ctx.body = "a login is 1-64 letters, digits, dots, hyphens or underscores";
    return undefined;
  }
  await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } },
    { mergeWithLastSubmission: false });
  ctx.respond = false;
  return undefined;
});
provider.proxy = false;
provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
