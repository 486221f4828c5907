// The legacy eDoc dialect's file operations as raw HTTP with the JDK's own java.net.http.
//
// Axis stubs cannot express SendDocument's MIME parts nor GetDocument's answer (header blocks
// plus MIME parts), so this writes both by hand: the envelopes are the dialect's samples
// (conformance/samples/legacy/soap11) with their placeholders filled, the file travels as a SwA
// multipart/related part named by the Manifest's cid:. See clients/README.md.
// No build step: `java LegacyRaw.java` (JDK 17 or later).

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;

public class LegacyRaw {
    static final String EDOC = "http://www.e-doc.vn/Schema/";
    static final String XLINK = "http://www.w3.org/1999/xlink";
    static final String ENDPOINT =
        System.getenv("GATEWAY_URL").replaceAll("/$", "") + "/legacy/edoc";
    static final String SAMPLES =
        System.getenv().getOrDefault("LEGACY_SAMPLES", "../../conformance/samples/legacy/soap11");
    static final HttpClient HTTP = HttpClient.newHttpClient();

    /** The sample request of the operation with its {{NAME}} placeholders filled in. */
    static String envelope(String operation, Map<String, String> values) throws Exception {
        String sample = Files.readString(Paths.get(SAMPLES, operation + ".xml"));
        return Pattern.compile("\\{\\{(\\w+)\\}\\}").matcher(sample)
            .replaceAll(m -> Matcher.quoteReplacement(values.get(m.group(1))));
    }

    /**
     * POST with the SOAPAction; the answer's MIME parts by Content-ID ("root": the envelope). The
     * body is split as ISO-8859-1 text, which maps every byte to one char and back unchanged.
     */
    static Map<String, byte[]> post(String operation, String body, String contentType)
            throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(ENDPOINT))
            .header("Content-Type", contentType).header("SOAPAction", operation)
            .timeout(Duration.ofSeconds(60))
            .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
        HttpResponse<byte[]> response = HTTP.send(request, HttpResponse.BodyHandlers.ofByteArray());
        String type = response.headers().firstValue("Content-Type").orElse("");
        Map<String, byte[]> parts = new HashMap<>();
        Matcher boundary = Pattern.compile("boundary=\"([^\"]+)\"").matcher(type);
        if (!boundary.find()) {
            parts.put("root", response.body());
            return parts;
        }
        Matcher start = Pattern.compile("start=\"<([^>]+)>\"").matcher(type);
        start.find();
        String[] chunks = new String(response.body(), StandardCharsets.ISO_8859_1)
            .split(Pattern.quote("--" + boundary.group(1)));
        for (String chunk : Arrays.copyOfRange(chunks, 1, chunks.length - 1)) {
            String part = chunk.substring(2, chunk.length() - 2); // between the delimiters' CRLFs
            int split = part.indexOf("\r\n\r\n");
            Matcher id =
                Pattern.compile("(?i)Content-ID: *<([^>]+)>").matcher(part.substring(0, split));
            id.find();
            byte[] content = part.substring(split + 4).getBytes(StandardCharsets.ISO_8859_1);
            parts.put(id.group(1).equals(start.group(1)) ? "root" : id.group(1), content);
        }
        return parts;
    }

    static Element xml(byte[] envelope) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        return factory.newDocumentBuilder().parse(new ByteArrayInputStream(envelope))
            .getDocumentElement();
    }

    /** The text of the first element at this path of e-doc.vn names. */
    static String text(Element from, String... names) {
        return find(from, names).getTextContent();
    }

    static Element find(Element from, String... names) {
        for (String name : names) {
            from = (Element) from.getElementsByTagNameNS(EDOC, name).item(0);
        }
        return from;
    }

    public static void main(String[] args) throws Exception {
        var out = new java.io.PrintStream(System.out, true, StandardCharsets.UTF_8);
        var env = System.getenv();

        // SendDocument (sender): the envelope as the root part, the file as a base64 part.
        byte[] data = Files.readAllBytes(Paths.get(env.get("ATTACHMENT_FILE")));
        String root = envelope("SendDocument", Map.of(
            "ORGAN_ID", env.get("SENDER_CODE"), "TOKEN", env.get("SENDER_SECRET"),
            "TO_ORGAN_ID", env.get("RECEIVER_CODE"), "NUMBER", env.get("DOCUMENT_NUMBER")));
        Matcher cid = Pattern.compile("href=\"cid:([^\"]+)\"").matcher(root); // the Manifest's
        cid.find();
        String boundary = "MIME_" + UUID.randomUUID().toString().replace("-", "");
        String body = "--" + boundary + "\r\nContent-Type: text/xml; charset=utf-8\r\n"
            + "Content-ID: <Start>\r\n\r\n" + root
            + "\r\n--" + boundary + "\r\nContent-Type: application/octet-stream\r\n"
            + "Content-Transfer-Encoding: base64\r\nContent-ID: <" + cid.group(1) + ">\r\n\r\n"
            + Base64.getEncoder().encodeToString(data) + "\r\n--" + boundary + "--\r\n";
        String type = "multipart/related; type=\"text/xml\"; boundary=\"" + boundary
            + "\"; start=\"<Start>\"";
        Element sent = xml(post("SendDocument", body, type).get("root"));
        String documentId = text(sent, "SendDocumentResponse", "DocumentId");
        out.println("legacy sent " + documentId + " success=" + text(sent, "Report", "IsSuccess"));

        // GetDocument (receiver): a plain SOAP request; the answer is the document's header
        // blocks and Manifest in the root part, one MIME part per file, whose content is the
        // file's base64 text.
        String request = envelope("GetDocument", Map.of("ORGAN_ID", env.get("RECEIVER_CODE"),
            "TOKEN", env.get("RECEIVER_SECRET"), "DOCUMENT_ID", documentId));
        Map<String, byte[]> parts = post("GetDocument", request, "text/xml; charset=utf-8");
        Element answer = xml(parts.get("root"));
        Element header = find(answer, "MessageHeader");
        out.println("legacy header " + documentId + " from=" + text(header, "From", "OrganId")
            + " to=" + text(header, "To", "OrganId") + " edxml=" + text(header, "DocumentId"));
        Element reference = find(answer, "Manifest", "Reference");
        String href = reference.getAttributeNS(XLINK, "href").substring("cid:".length());
        byte[] received = Base64.getMimeDecoder().decode(parts.get(href));
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(received);
        out.println("legacy fetched " + documentId + " file=" + text(reference, "AttachmentName")
            + " size=" + received.length + " sha256=" + HexFormat.of().formatHex(digest)
            + " matches=" + Arrays.equals(received, data));
    }
}
