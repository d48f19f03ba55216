package dev.inherence.keycloak;

import jakarta.ws.rs.core.MultivaluedMap;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;
import org.keycloak.authentication.RequiredActionContext;
import org.keycloak.authentication.RequiredActionProvider;
import org.keycloak.sessions.AuthenticationSessionModel;

import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/**
 * Enrols a user who has no face template yet: the same round trip with {@code prompt=create},
 * where Inherence records the face (with liveness) on its hosted page; on success the user is
 * marked enrolled.
 */
public final class FaceEnrolRequiredAction implements RequiredActionProvider {
    private static final Logger LOG = Logger.getLogger(FaceEnrolRequiredAction.class);

    private final InherenceClient.MetadataCache cache;
    private final java.net.http.HttpClient http;

    FaceEnrolRequiredAction(InherenceClient.MetadataCache cache, java.net.http.HttpClient http) {
        this.cache = cache;
        this.http = http;
    }

    @Override
    public void evaluateTriggers(RequiredActionContext context) {
    }

    private static Response page(RequiredActionContext context, String message) {
        return context.form().setError(message).createErrorPage(Response.Status.UNAUTHORIZED);
    }

    @Override
    public void requiredActionChallenge(RequiredActionContext context) {
        try {
            run(context);
        } catch (RuntimeException e) {
            LOG.errorf(e, "Inherence enrolment failed unexpectedly");
            context.challenge(page(context, "Face enrolment could not be completed. Please try again."));
        }
    }

    private void run(RequiredActionContext context) {
        InherenceSettings settings;
        try {
            settings = InherenceSettings.from(Flows.realmConfig(context.getRealm()));
        } catch (IllegalArgumentException e) {
            LOG.errorf("Inherence enrolment misconfigured: %s", e.getMessage());
            context.challenge(page(context, "Face enrolment is not configured correctly. Contact your administrator."));
            return;
        }
        InherenceClient client = new InherenceClient(settings, cache, http);
        AuthenticationSessionModel auth = context.getAuthenticationSession();
        String redirectUri = Flows.callbackUri(context.getUriInfo().getBaseUri(), context.getRealm());
        MultivaluedMap<String, String> q = context.getUriInfo().getQueryParameters();
        if (Flows.isReturn(q)) {
            try {
                Flows.finish(auth, q, client, redirectUri, true);
                context.getUser().setSingleAttribute(Flows.USER_ENROLLED, "true");
                LOG.infof("user %s enrolled a face at Inherence", context.getUser().getId());
                context.success();
            } catch (InherenceClient.Refused | InherenceClient.Unavailable e) {
                LOG.infof("face enrolment failed for user %s: %s", context.getUser().getId(), e.getMessage());
                context.challenge(page(context, "Face enrolment failed: " + e.getMessage() + ". Sign in again to retry."));
            }
            return;
        }
        String subject = Flows.subject(settings, context.getUser());
        if (subject == null) {
            context.challenge(page(context, "Your account has no identifier for the face check. Contact your administrator."));
            return;
        }
        String returnUrl = Flows.realmBase(context.getUriInfo().getBaseUri(), context.getRealm().getName())
                + "/login-actions/required-action?execution=" + FaceEnrolRequiredActionFactory.ID
                + "&client_id=" + URLEncoder.encode(auth.getClient().getClientId(), StandardCharsets.UTF_8)
                + "&tab_id=" + URLEncoder.encode(auth.getTabId(), StandardCharsets.UTF_8);
        try {
            InherenceClient.Started st = client.start(subject, redirectUri, Flows.stateSuffix(returnUrl), true, null);
            Flows.remember(auth, st, subject);
            context.challenge(Response.seeOther(URI.create(st.authorizeUrl())).build());
        } catch (InherenceClient.Refused | InherenceClient.Unavailable e) {
            LOG.errorf("cannot start a face enrolment: %s", e.getMessage());
            context.challenge(page(context, "Face enrolment is unavailable right now. Please try again later."));
        }
    }

    @Override
    public void processAction(RequiredActionContext context) {
        requiredActionChallenge(context);
    }

    @Override
    public void close() {
    }
}
