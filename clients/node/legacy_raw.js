// The legacy eDoc dialect's file operations as raw HTTP with node's own http module.
//
// Generated stubs cannot express SendDocument's MIME parts nor GetDocument's answer (header
// blocks plus MIME parts), so this writes both by hand: the envelopes are the dialect's samples
// (conformance/samples/legacy/soap11) with their placeholders filled, the file travels as a SwA
// multipart/related part named by the Manifest's cid:. See clients/README.md.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const http = require("http");
const path = require("path");

const env = process.env;
const endpoint = new URL(env.GATEWAY_URL.replace(/\/$/, "") + "/legacy/edoc");
const samples = env.LEGACY_SAMPLES || "../../conformance/samples/legacy/soap11";

// The sample request of the operation with its {{NAME}} placeholders filled in.
function envelope(operation, values) {
  const sample = fs.readFileSync(path.join(samples, operation + ".xml"), "utf8");
  return sample.replace(/\{\{(\w+)\}\}/g, (_, name) => values[name]);
}

// POST with the SOAPAction; resolves to the answer's MIME parts by Content-ID ("root": the
// envelope, as text).
function post(operation, body, contentType) {
  const headers = { "Content-Type": contentType, SOAPAction: operation };
  return new Promise((resolve, reject) => {
    const request = http.request(endpoint, { method: "POST", headers }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => {
        resolve(mimeParts(response.headers["content-type"], Buffer.concat(chunks)));
      });
    });
    request.on("error", reject);
    request.end(body);
  });
}

function mimeParts(contentType, answer) {
  if (!contentType.startsWith("multipart/")) return { root: answer.toString("utf8") };
  const boundary = Buffer.from("--" + contentType.match(/boundary="([^"]+)"/)[1]);
  const start = contentType.match(/start="<([^>]+)>"/)[1];
  const parts = {};
  let at = answer.indexOf(boundary) + boundary.length;
  for (let next; (next = answer.indexOf(boundary, at)) !== -1; at = next + boundary.length) {
    const part = answer.subarray(at + 2, next - 2); // between the delimiters' CRLFs
    const split = part.indexOf("\r\n\r\n");
    const id = part.subarray(0, split).toString().match(/Content-ID: *<([^>]+)>/i)[1];
    const content = part.subarray(split + 4);
    if (id === start) parts.root = content.toString("utf8");
    else parts[id] = content;
  }
  return parts;
}

// The text of the first element at this path of local names (prefixes ignored): enough for the
// dialect's small, known answers without an XML library (entities such as &amp; stay as sent).
function find(xml, ...names) {
  for (const name of names) {
    const element = `<(\\w+:)?${name}(\\s[^>]*)?>([\\s\\S]*?)</(\\w+:)?${name}>`;
    const match = xml.match(new RegExp(element));
    if (!match) return undefined;
    xml = match[3];
  }
  return xml;
}

async function main() {
  // SendDocument (sender): the envelope as the root part, the file as a base64 part.
  const data = fs.readFileSync(env.ATTACHMENT_FILE);
  const root = envelope("SendDocument", {
    ORGAN_ID: env.SENDER_CODE,
    TOKEN: env.SENDER_SECRET,
    TO_ORGAN_ID: env.RECEIVER_CODE,
    NUMBER: env.DOCUMENT_NUMBER,
  });
  const cid = root.match(/href="cid:([^"]+)"/)[1]; // the Manifest names the part
  const boundary = "MIME_" + crypto.randomBytes(16).toString("hex");
  const body = Buffer.from(
    `--${boundary}\r\nContent-Type: text/xml; charset=utf-8\r\n` +
      `Content-ID: <Start>\r\n\r\n${root}` +
      `\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\n` +
      `Content-Transfer-Encoding: base64\r\nContent-ID: <${cid}>\r\n\r\n` +
      data.toString("base64") +
      `\r\n--${boundary}--\r\n`,
    "utf8"
  );
  const type = `multipart/related; type="text/xml"; boundary="${boundary}"; start="<Start>"`;
  const sent = (await post("SendDocument", body, type)).root;
  const documentId = find(sent, "SendDocumentResponse", "DocumentId");
  console.log(`legacy sent ${documentId} success=${find(sent, "Report", "IsSuccess")}`);

  // GetDocument (receiver): a plain SOAP request; the answer is the document's header blocks and
  // Manifest in the root part, one MIME part per file, whose content is the file's base64 text.
  const request = envelope("GetDocument", {
    ORGAN_ID: env.RECEIVER_CODE,
    TOKEN: env.RECEIVER_SECRET,
    DOCUMENT_ID: documentId,
  });
  const parts = await post("GetDocument", request, "text/xml; charset=utf-8");
  const header = find(parts.root, "MessageHeader");
  const from = find(header, "From", "OrganId");
  const to = find(header, "To", "OrganId");
  const edxml = find(header, "DocumentId");
  console.log(`legacy header ${documentId} from=${from} to=${to} edxml=${edxml}`);
  const manifest = find(parts.root, "Manifest");
  const href = parts.root.match(/<(\w+:)?Reference\s[^>]*?href="cid:([^"]+)"/)[2];
  const received = Buffer.from(parts[href].toString("ascii"), "base64");
  const sha256 = crypto.createHash("sha256").update(received).digest("hex");
  console.log(
    `legacy fetched ${documentId} file=${find(manifest, "AttachmentName")} ` +
      `size=${received.length} sha256=${sha256} matches=${received.equals(data)}`
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
