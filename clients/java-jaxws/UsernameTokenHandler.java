// The WS-Security UsernameToken for the JAX-WS RI, which has none of its own: a SOAPHandler that
// writes wsse:Security into every outgoing message, with PasswordDigest =
// Base64(SHA-1(nonce + Created + secret)), a fresh 16-byte nonce and Created (UTC, whole
// seconds) for each call. It also keeps the standard code of the last fault it saw
// (Client/Server in SOAP 1.1, Sender/Receiver in 1.2): the generated GatewayFault_Exception
// carries only the fault string and the GatewayFault detail.

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.Collections;
import java.util.Set;
import javax.xml.namespace.QName;
import javax.xml.soap.SOAPElement;
import javax.xml.soap.SOAPEnvelope;
import javax.xml.soap.SOAPException;
import javax.xml.soap.SOAPFault;
import javax.xml.soap.SOAPHeader;
import javax.xml.ws.WebServiceException;
import javax.xml.ws.handler.MessageContext;
import javax.xml.ws.handler.soap.SOAPHandler;
import javax.xml.ws.handler.soap.SOAPMessageContext;

public final class UsernameTokenHandler implements SOAPHandler<SOAPMessageContext> {
    static final String WSSE =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    static final String WSU =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    static final String PROFILE =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0";
    static final SecureRandom RANDOM = new SecureRandom();

    private final String username;
    private final String secret;
    private volatile String lastFaultCode = "";

    public UsernameTokenHandler(String username, String secret) {
        this.username = username;
        this.secret = secret;
    }

    /** The local name of the standard code of the last fault answered to this agency. */
    public String lastFaultCode() {
        return lastFaultCode;
    }

    @Override
    public boolean handleMessage(SOAPMessageContext context) {
        if (!Boolean.TRUE.equals(context.get(MessageContext.MESSAGE_OUTBOUND_PROPERTY))) {
            return true;
        }
        try {
            byte[] nonce = new byte[16];
            RANDOM.nextBytes(nonce);
            String created = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            sha1.update(nonce);
            sha1.update(created.getBytes(StandardCharsets.UTF_8));
            sha1.update(secret.getBytes(StandardCharsets.UTF_8));
            String digest = Base64.getEncoder().encodeToString(sha1.digest());

            SOAPEnvelope envelope = context.getMessage().getSOAPPart().getEnvelope();
            SOAPHeader header = envelope.getHeader();
            if (header == null) {
                header = envelope.addHeader();
            }
            SOAPElement security = header.addChildElement("Security", "wsse", WSSE);
            SOAPElement token = security.addChildElement("UsernameToken", "wsse", WSSE);
            token.addChildElement("Username", "wsse", WSSE).addTextNode(username);
            SOAPElement password = token.addChildElement("Password", "wsse", WSSE);
            password.setAttribute("Type", PROFILE + "#PasswordDigest");
            password.addTextNode(digest);
            token.addChildElement("Nonce", "wsse", WSSE)
                .addTextNode(Base64.getEncoder().encodeToString(nonce));
            token.addChildElement("Created", "wsu", WSU).addTextNode(created);
            context.getMessage().saveChanges();
        } catch (SOAPException | java.security.NoSuchAlgorithmException e) {
            throw new WebServiceException(e);
        }
        return true;
    }

    @Override
    public boolean handleFault(SOAPMessageContext context) {
        try {
            SOAPFault fault = context.getMessage().getSOAPBody().getFault();
            lastFaultCode = fault == null ? "" : fault.getFaultCodeAsQName().getLocalPart();
        } catch (SOAPException e) {
            lastFaultCode = "";
        }
        return true;
    }

    @Override
    public void close(MessageContext context) {
    }

    @Override
    public Set<QName> getHeaders() {
        return Collections.emptySet();
    }
}
