// The WS-Security UsernameToken for the JAX-WS RI, which has none of its own: a SOAPHandler that
// writes wsse:Security into every outgoing message, the token (PasswordDigest =
// Base64(SHA-1(nonce + Created + secret)), a fresh 16-byte nonce and Created for each call)
// written by ../java-common/UsernameToken.java, as in the Axis example. It also keeps the
// standard code of the last fault it saw (Client/Server in SOAP 1.1, Sender/Receiver in 1.2): the
// generated GatewayFault_Exception carries only the fault string and the GatewayFault detail.

import java.security.GeneralSecurityException;
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
            SOAPEnvelope envelope = context.getMessage().getSOAPPart().getEnvelope();
            SOAPHeader header = envelope.getHeader();
            if (header == null) {
                header = envelope.addHeader();
            }
            SOAPElement security = header.addChildElement("Security", "wsse", UsernameToken.WSSE);
            UsernameToken.write(security, username, secret);
            context.getMessage().saveChanges();
        } catch (SOAPException | GeneralSecurityException e) {
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
