/**
 * Inherence face check as an Auth0 post-login Action (Node 22 runtime).
 *
 * The Action sends the browser to Inherence with a session token it signs with a shared secret
 * (api.redirect.encodeToken: HS256; iss = your tenant's hostname, sub = the user's user_id).
 * Inherence checks the token, runs the face check for that user against the face enrolled under
 * their user_id, and POSTs a signed result and the state back to /continue. There the Action
 * validates the result (api.redirect.validateToken: signature, expiry, state claim), checks it
 * names this user, came from Inherence and approved a face, and records the method.
 *
 * Secrets (Actions > this Action > Secrets):
 *   INHERENCE_ISSUER     Inherence's issuer URL, e.g. https://inherence.example (no trailing slash)
 *   INHERENCE_CLIENT_ID  the client_id of the auth0_continue client registered in Inherence
 *   INHERENCE_SECRET     that client's client_secret (at least 32 characters)
 * Optional:
 *   INHERENCE_REUSE_SECONDS  skip the face check when this browser session passed one this
 *                            recently (default 0: every login)
 *
 * See docs/integrations/auth0.md.
 */

/** Fixed texts for the error codes Inherence posts back (never its unsigned description). */
const REASONS = {
  access_denied: "the face check was cancelled or declined",
  unmet_authentication_requirements: "the face check did not succeed, or no face is enrolled",
  temporarily_unavailable: "the face check is unavailable, try again later",
};

/** The method recorded in event.authentication.methods once the face check passed. */
const methodUrl = (event) => `${event.secrets.INHERENCE_ISSUER}/auth0/face`;

/** Called after the user signed in (the first factor). */
exports.onExecutePostLogin = async (event, api) => {
  const reuse = Number(event.secrets.INHERENCE_REUSE_SECONDS || 0) * 1000;
  const passed = (event.authentication?.methods || []).find((m) => m.name === methodUrl(event));
  if (passed && reuse > 0 && Date.now() - Date.parse(passed.timestamp) < reuse) return;
  const sessionToken = api.redirect.encodeToken({
    secret: event.secrets.INHERENCE_SECRET,
    expiresInSeconds: 300,
    payload: {},
  });
  // Auth0 adds the state parameter itself.
  api.redirect.sendUserTo(`${event.secrets.INHERENCE_ISSUER}/auth0/start`, {
    query: { client_id: event.secrets.INHERENCE_CLIENT_ID, session_token: sessionToken },
  });
};

/** Called when Inherence sends the browser back to /continue. */
exports.onContinuePostLogin = async (event, api) => {
  let result;
  try {
    result = api.redirect.validateToken({
      secret: event.secrets.INHERENCE_SECRET,
      tokenParameterName: "session_token",
    });
  } catch (err) {
    // No valid result: the check failed or was cancelled (Inherence posts an unsigned error,
    // which can only lead here), or the answer was forged. The unsigned fields are anyone's
    // to write: only a known error code picks the (fixed) text.
    const error = event.request.body?.error || event.request.query?.error;
    return api.access.deny(`Face check not completed: ${REASONS[error] || "no valid result"}`);
  }
  if (result.iss !== event.secrets.INHERENCE_ISSUER) {
    return api.access.deny("Face check not completed: the result is not from Inherence");
  }
  if (result.aud !== event.request.hostname) {
    return api.access.deny("Face check not completed: the result is for another tenant");
  }
  if (result.sub !== event.user.user_id) {
    return api.access.deny("Face check not completed: the result is for another user");
  }
  if (result.result !== "approved" || !Array.isArray(result.amr) || !result.amr.includes("face")) {
    return api.access.deny("Face check not completed");
  }
  api.authentication.recordMethod(methodUrl(event));
};
