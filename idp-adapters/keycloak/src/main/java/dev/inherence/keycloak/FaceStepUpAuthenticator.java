package dev.inherence.keycloak;

import jakarta.ws.rs.core.MultivaluedMap;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.authentication.Authenticator;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.sessions.AuthenticationSessionModel;

import java.net.URI;

/**
 * The face check as a Keycloak execution (Duo Universal Prompt pattern): a pushed authorization
 * request to Inherence, a 303 to its hosted capture page, the answer on a fixed callback, the
 * code exchanged over the back channel and the ID token validated before {@code success()}.
 */
public final class FaceStepUpAuthenticator implements Authenticator {
    private static final Logger LOG = Logger.getLogger(FaceStepUpAuthenticator.class);

    private final InherenceClient.MetadataCache cache;
    private final java.net.http.HttpClient http;

    FaceStepUpAuthenticator(InherenceClient.MetadataCache cache, java.net.http.HttpClient http) {
        this.cache = cache;
        this.http = http;
    }

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        try {
            run(context);
        } catch (RuntimeException e) {
            // Never a 500 and never a pass: anything unexpected fails the step.
            LOG.errorf(e, "Inherence face check failed unexpectedly");
            fail(context, AuthenticationFlowError.INTERNAL_ERROR,
                    "The face check could not be completed. Please try again.");
        }
    }

    private void run(AuthenticationFlowContext context) {
        InherenceSettings settings;
        try {
            settings = InherenceSettings.from(context.getAuthenticatorConfig() == null ? null
                    : context.getAuthenticatorConfig().getConfig());
        } catch (IllegalArgumentException e) {
            LOG.errorf("Inherence authenticator misconfigured: %s", e.getMessage());
            fail(context, AuthenticationFlowError.INTERNAL_ERROR,
                    "The face check is not configured correctly. Contact your administrator.");
            return;
        }
        InherenceClient client = new InherenceClient(settings, cache, http);
        AuthenticationSessionModel auth = context.getAuthenticationSession();
        String redirectUri = Flows.callbackUri(context.getUriInfo().getBaseUri(), context.getRealm());
        MultivaluedMap<String, String> q = context.getUriInfo().getQueryParameters();
        if (Flows.isReturn(q)) {
            long t0 = System.nanoTime();
            try {
                Flows.finish(auth, q, client, redirectUri, false);
                LOG.infof("inherence adapter timing: finish_ms=%.1f user=%s", (System.nanoTime() - t0) / 1e6,
                        context.getUser().getId());
                context.success();
            } catch (InherenceClient.Refused e) {
                LOG.infof("face check refused for user %s: %s", context.getUser().getId(), e.getMessage());
                fail(context, AuthenticationFlowError.INVALID_CREDENTIALS, "Face check failed: " + e.getMessage() + ".");
            } catch (InherenceClient.Unavailable e) {
                // The check has started: an outage now never lets the user through.
                LOG.errorf("Inherence failed during the return leg (%s); failing closed", e.getMessage());
                fail(context, AuthenticationFlowError.INTERNAL_ERROR,
                        "The face check could not be completed. Please try again.");
            }
            return;
        }
        String subject = Flows.subject(settings, context.getUser());
        if (subject == null) {
            fail(context, AuthenticationFlowError.INVALID_USER,
                    "Your account has no identifier for the face check. Contact your administrator.");
            return;
        }
        long t0 = System.nanoTime();
        try {
            String returnUrl = Flows.withoutClientData(context.getRefreshUrl(false).toString());
            InherenceClient.Started st = client.start(subject, redirectUri, Flows.stateSuffix(returnUrl), false,
                    auth.getClientNote("client_request_param_authorization_details"));
            Flows.remember(auth, st, subject);
            LOG.infof("inherence adapter timing: start_ms=%.1f user=%s", (System.nanoTime() - t0) / 1e6,
                    context.getUser().getId());
            context.challenge(Response.seeOther(URI.create(st.authorizeUrl())).build());
        } catch (InherenceClient.Unavailable e) {
            unavailable(context, settings, e);
        } catch (InherenceClient.Refused e) {
            LOG.warnf("Inherence refused to start a face check: %s", e.getMessage());
            fail(context, AuthenticationFlowError.INTERNAL_ERROR,
                    "The face check could not be started: " + e.getMessage() + ".");
        }
    }

    /**
     * Inherence cannot be used when the check would start: fail closed, unless the admin chose
     * fail-open AND Inherence is unreachable (a misconfiguration always fails closed).
     */
    private static void unavailable(AuthenticationFlowContext context, InherenceSettings s,
                                    InherenceClient.Unavailable e) {
        if (s.failOpen && e.transport) {
            LOG.warnf("Inherence is unavailable (%s); fail-open is configured, so user %s continues WITHOUT a face check",
                    e.getMessage(), context.getUser().getId());
            context.success();
            return;
        }
        LOG.errorf("Inherence is unavailable (%s); failing closed", e.getMessage());
        fail(context, AuthenticationFlowError.INTERNAL_ERROR,
                "The face check service is unavailable, so this sign-in cannot be confirmed. Please try again later.");
    }

    private static void fail(AuthenticationFlowContext context, AuthenticationFlowError error, String message) {
        Response page = context.form().setError(message).createErrorPage(Response.Status.UNAUTHORIZED);
        context.failureChallenge(error, page);
    }

    @Override
    public void action(AuthenticationFlowContext context) {
        // The return leg arrives as a GET (authenticate); a POST here is a form resubmission.
        authenticate(context);
    }

    @Override
    public boolean requiresUser() {
        return true;
    }

    @Override
    public boolean configuredFor(KeycloakSession session, RealmModel realm, UserModel user) {
        if ("true".equals(user.getFirstAttribute(Flows.USER_ENROLLED))) {
            return true;
        }
        // Without self-enrolment, an unenrolled user still goes to Inherence, which refuses
        // ("no face is enrolled"): only an enrolled face can pass level 2.
        try {
            return !InherenceSettings.from(Flows.realmConfig(realm)).selfEnrolment;
        } catch (IllegalArgumentException e) {
            return true;
        }
    }

    @Override
    public void setRequiredActions(KeycloakSession session, RealmModel realm, UserModel user) {
        user.addRequiredAction(FaceEnrolRequiredActionFactory.ID);
    }

    @Override
    public void close() {
    }
}
