// The WS-Security UsernameToken both Java examples send (java-axis/, java-jaxws/): neither Axis 1.4
// nor the JAX-WS RI writes one. PasswordDigest = Base64(SHA-1(nonce + Created + secret)), with a
// fresh 16-byte nonce and Created (UTC, whole seconds) for every call; each run.sh compiles this
// file with its example.

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import javax.xml.soap.SOAPElement;
import javax.xml.soap.SOAPException;

public final class UsernameToken {
    public static final String WSSE =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    static final String WSU =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    static final String PROFILE =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0";
    static final SecureRandom RANDOM = new SecureRandom();

    private UsernameToken() {
    }

    /** Write a new wsse:UsernameToken (new nonce, new Created) into the wsse:Security header
     * element {@code security}. */
    public static void write(SOAPElement security, String username, String secret)
            throws SOAPException, GeneralSecurityException {
        byte[] nonce = new byte[16];
        RANDOM.nextBytes(nonce);
        String created = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
        sha1.update(nonce);
        sha1.update(created.getBytes(StandardCharsets.UTF_8));
        sha1.update(secret.getBytes(StandardCharsets.UTF_8));
        String digest = Base64.getEncoder().encodeToString(sha1.digest());

        SOAPElement token = security.addChildElement("UsernameToken", "wsse", WSSE);
        token.addChildElement("Username", "wsse", WSSE).addTextNode(username);
        SOAPElement password = token.addChildElement("Password", "wsse", WSSE);
        password.setAttribute("Type", PROFILE + "#PasswordDigest");
        password.addTextNode(digest);
        token.addChildElement("Nonce", "wsse", WSSE)
            .addTextNode(Base64.getEncoder().encodeToString(nonce));
        token.addChildElement("Created", "wsu", WSU).addTextNode(created);
    }
}
