// The legacy eDoc dialect's file operations as raw HTTP with .NET's own HttpWebRequest.
//
// The proxies Mono's `wsdl` makes from /legacy/edoc?wsdl=wsi leave out SendDocument's MIME parts
// and GetDocument's answer (header blocks plus MIME parts), so this writes both by hand: the
// envelopes are the dialect's samples (conformance/samples/legacy/soap11) with their placeholders
// filled, the file travels as a SwA multipart/related part named by the Manifest's cid:.
// legacy_raw.sh compiles it with mcs and runs it. See clients/README.md.

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;

public static class LegacyRaw
{
    const string Edoc = "http://www.e-doc.vn/Schema/";
    const string Xlink = "http://www.w3.org/1999/xlink";
    static readonly Encoding Latin1 = Encoding.GetEncoding("ISO-8859-1"); // one char per byte

    static string Env(string name) { return Environment.GetEnvironmentVariable(name); }

    // The sample request of the operation with its {{NAME}} placeholders filled in.
    static string Envelope(string operation, Dictionary<string, string> values)
    {
        string samples = Env("LEGACY_SAMPLES") ?? "../../conformance/samples/legacy/soap11";
        string sample = File.ReadAllText(Path.Combine(samples, operation + ".xml"), Encoding.UTF8);
        return Regex.Replace(sample, @"\{\{(\w+)\}\}", m => values[m.Groups[1].Value]);
    }

    // POST with the SOAPAction; the answer's MIME parts by Content-ID ("root": the envelope).
    // The body is split as ISO-8859-1 text, which maps every byte to one char and back unchanged.
    static Dictionary<string, byte[]> Post(string operation, string text, string contentType)
    {
        string url = Env("GATEWAY_URL").TrimEnd('/') + "/legacy/edoc";
        var request = (HttpWebRequest)WebRequest.Create(url);
        request.Method = "POST";
        request.ContentType = contentType;
        request.Headers["SOAPAction"] = operation;
        request.Timeout = 60000;
        byte[] body = new UTF8Encoding(false).GetBytes(text);
        using (Stream stream = request.GetRequestStream()) stream.Write(body, 0, body.Length);
        var parts = new Dictionary<string, byte[]>();
        using (var response = (HttpWebResponse)request.GetResponse())
        using (var buffer = new MemoryStream())
        {
            response.GetResponseStream().CopyTo(buffer);
            Match boundary = Regex.Match(response.ContentType, "boundary=\"([^\"]+)\"");
            if (!boundary.Success)
            {
                parts["root"] = buffer.ToArray();
                return parts;
            }
            string start =
                Regex.Match(response.ContentType, "start=\"<([^>]+)>\"").Groups[1].Value;
            string[] chunks = Latin1.GetString(buffer.ToArray())
                .Split(new[] { "--" + boundary.Groups[1].Value }, StringSplitOptions.None);
            for (int i = 1; i < chunks.Length - 1; i++)
            {
                string part = chunks[i].Substring(2, chunks[i].Length - 4); // between the CRLFs
                int split = part.IndexOf("\r\n\r\n");
                string head = part.Substring(0, split);
                string id = Regex.Match(head, "(?i)Content-ID: *<([^>]+)>").Groups[1].Value;
                parts[id == start ? "root" : id] = Latin1.GetBytes(part.Substring(split + 4));
            }
        }
        return parts;
    }

    static XmlElement Xml(byte[] envelope)
    {
        var document = new XmlDocument { XmlResolver = null };
        document.Load(new MemoryStream(envelope));
        return document.DocumentElement;
    }

    // The first element at this path of e-doc.vn names, each below the one before.
    static XmlElement Find(XmlElement from, params string[] names)
    {
        foreach (string name in names)
            from = (XmlElement)from.GetElementsByTagName(name, Edoc)[0];
        return from;
    }

    static string Text(XmlElement from, params string[] names)
    {
        return Find(from, names).InnerText;
    }

    public static void Main()
    {
        Console.OutputEncoding = new UTF8Encoding(false);

        // SendDocument (sender): the envelope as the root part, the file as a base64 part.
        byte[] data = File.ReadAllBytes(Env("ATTACHMENT_FILE"));
        string root = Envelope("SendDocument", new Dictionary<string, string> {
            { "ORGAN_ID", Env("SENDER_CODE") }, { "TOKEN", Env("SENDER_SECRET") },
            { "TO_ORGAN_ID", Env("RECEIVER_CODE") }, { "NUMBER", Env("DOCUMENT_NUMBER") } });
        // The Manifest names the file's part.
        string cid = Regex.Match(root, "href=\"cid:([^\"]+)\"").Groups[1].Value;
        string boundary = "MIME_" + Guid.NewGuid().ToString("N");
        string body = "--" + boundary + "\r\nContent-Type: text/xml; charset=utf-8\r\n"
            + "Content-ID: <Start>\r\n\r\n" + root
            + "\r\n--" + boundary + "\r\nContent-Type: application/octet-stream\r\n"
            + "Content-Transfer-Encoding: base64\r\nContent-ID: <" + cid + ">\r\n\r\n"
            + Convert.ToBase64String(data) + "\r\n--" + boundary + "--\r\n";
        string type = "multipart/related; type=\"text/xml\"; boundary=\"" + boundary
            + "\"; start=\"<Start>\"";
        XmlElement sent = Xml(Post("SendDocument", body, type)["root"]);
        string documentId = Text(sent, "SendDocumentResponse", "DocumentId");
        Console.WriteLine(
            "legacy sent " + documentId + " success=" + Text(sent, "Report", "IsSuccess"));

        // GetDocument (receiver): a plain SOAP request; the answer is the document's header
        // blocks and Manifest in the root part, one MIME part per file, whose content is the
        // file's base64 text.
        string request = Envelope("GetDocument", new Dictionary<string, string> {
            { "ORGAN_ID", Env("RECEIVER_CODE") }, { "TOKEN", Env("RECEIVER_SECRET") },
            { "DOCUMENT_ID", documentId } });
        var parts = Post("GetDocument", request, "text/xml; charset=utf-8");
        XmlElement answer = Xml(parts["root"]);
        XmlElement header = Find(answer, "MessageHeader");
        Console.WriteLine("legacy header " + documentId + " from=" + Text(header, "From", "OrganId")
            + " to=" + Text(header, "To", "OrganId") + " edxml=" + Text(header, "DocumentId"));
        XmlElement reference = Find(answer, "Manifest", "Reference");
        string href = reference.GetAttribute("href", Xlink).Substring("cid:".Length);
        byte[] received = Convert.FromBase64String(Encoding.ASCII.GetString(parts[href]));
        string sha256 = BitConverter.ToString(SHA256.Create().ComputeHash(received))
            .Replace("-", "").ToLowerInvariant();
        Console.WriteLine("legacy fetched " + documentId
            + " file=" + Text(reference, "AttachmentName")
            + " size=" + received.Length + " sha256=" + sha256
            + " matches=" + (received.SequenceEqual(data) ? "true" : "false"));
    }
}
