<?php
// The legacy eDoc dialect's file operations as raw HTTP with PHP's own streams (no extension).
//
// SoapClient cannot express SendDocument's MIME parts (it drops them) nor GetDocument's answer
// (header blocks plus MIME parts), so this writes both by hand: the envelopes are the dialect's
// samples (conformance/samples/legacy/soap11) with their placeholders filled, the file travels
// as a SwA multipart/related part named by the Manifest's cid:. See clients/README.md.

$endpoint = rtrim(getenv('GATEWAY_URL'), '/') . '/legacy/edoc';
$samples = getenv('LEGACY_SAMPLES') ?: '../../conformance/samples/legacy/soap11';

// The sample request of the operation with its {{NAME}} placeholders filled in.
function envelope(string $operation, array $values): string
{
    global $samples;
    $sample = file_get_contents("$samples/$operation.xml");
    return preg_replace_callback('/\{\{(\w+)\}\}/', fn ($m) => $values[$m[1]], $sample);
}

// POST with the SOAPAction; the answer's MIME parts by Content-ID ('root': the envelope).
function post(string $operation, string $body, string $contentType): array
{
    global $endpoint;
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: $contentType\r\nSOAPAction: $operation\r\n",
        'content' => $body,
        'timeout' => 60,
    ]]);
    $answer = file_get_contents($endpoint, false, $context);
    if ($answer === false) {
        throw new RuntimeException("POST $operation failed");
    }
    $type = '';
    foreach ($http_response_header as $line) {
        if (stripos($line, 'Content-Type:') === 0) {
            $type = trim(substr($line, 13));
        }
    }
    if (!preg_match('/boundary="([^"]+)"/', $type, $boundary)) {
        return ['root' => $answer];
    }
    preg_match('/start="<([^>]+)>"/', $type, $start);
    $parts = [];
    foreach (array_slice(explode("--$boundary[1]", $answer), 1, -1) as $part) {
        [$head, $content] = explode("\r\n\r\n", substr($part, 2, -2), 2);
        preg_match('/Content-ID: *<([^>]+)>/i', $head, $id);
        $parts[$id[1] === $start[1] ? 'root' : $id[1]] = $content;
    }
    return $parts;
}

// The text of the first element at this path of local names (prefixes ignored): enough for the
// dialect's small, known answers without an XML extension (entities such as &amp; stay as sent).
function find(string $xml, string ...$names): ?string
{
    foreach ($names as $name) {
        if (!preg_match("#<(\w+:)?$name(\s[^>]*)?>(.*?)</(\w+:)?$name>#s", $xml, $match)) {
            return null;
        }
        $xml = $match[3];
    }
    return $xml;
}

// SendDocument (sender): the envelope as the root part, the file as a base64 part.
$data = file_get_contents(getenv('ATTACHMENT_FILE'));
$root = envelope('SendDocument', [
    'ORGAN_ID' => getenv('SENDER_CODE'),
    'TOKEN' => getenv('SENDER_SECRET'),
    'TO_ORGAN_ID' => getenv('RECEIVER_CODE'),
    'NUMBER' => getenv('DOCUMENT_NUMBER'),
]);
preg_match('/href="cid:([^"]+)"/', $root, $cid); // the Manifest names the part
$boundary = 'MIME_' . bin2hex(random_bytes(16));
$body = "--$boundary\r\nContent-Type: text/xml; charset=utf-8\r\nContent-ID: <Start>\r\n\r\n$root"
    . "\r\n--$boundary\r\nContent-Type: application/octet-stream\r\n"
    . "Content-Transfer-Encoding: base64\r\nContent-ID: <$cid[1]>\r\n\r\n" . base64_encode($data)
    . "\r\n--$boundary--\r\n";
$type = "multipart/related; type=\"text/xml\"; boundary=\"$boundary\"; start=\"<Start>\"";
$sent = post('SendDocument', $body, $type)['root'];
$documentId = find($sent, 'SendDocumentResponse', 'DocumentId');
echo "legacy sent $documentId success=" . find($sent, 'Report', 'IsSuccess') . "\n";

// GetDocument (receiver): a plain SOAP request; the answer is the document's header blocks and
// Manifest in the root part, one MIME part per file, whose content is the file's base64 text.
$request = envelope('GetDocument', [
    'ORGAN_ID' => getenv('RECEIVER_CODE'),
    'TOKEN' => getenv('RECEIVER_SECRET'),
    'DOCUMENT_ID' => $documentId,
]);
$parts = post('GetDocument', $request, 'text/xml; charset=utf-8');
$header = find($parts['root'], 'MessageHeader');
$from = find($header, 'From', 'OrganId');
$to = find($header, 'To', 'OrganId');
echo "legacy header $documentId from=$from to=$to edxml=" . find($header, 'DocumentId') . "\n";
preg_match('/<(\w+:)?Reference\s[^>]*?href="cid:([^"]+)"/', $parts['root'], $href);
$received = base64_decode($parts[$href[2]]);
$name = find($parts['root'], 'Manifest', 'AttachmentName');
printf(
    "legacy fetched %s file=%s size=%d sha256=%s matches=%s\n",
    $documentId,
    $name,
    strlen($received),
    hash('sha256', $received),
    $received === $data ? 'true' : 'false'
);
