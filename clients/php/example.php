<?php
// edoc-gateway from PHP's SoapClient: send, pull, fetch, confirm, traces, faults (SOAP 1.1/1.2).
//
// Settings come from the environment (clients/README.md). SoapClient has no WS-Security, so
// the UsernameToken header is written here: PasswordDigest = Base64(SHA-1(nonce + created +
// secret)), a fresh nonce and Created for every call. SoapClient encodes and decodes
// xs:base64Binary itself: pass and receive raw bytes. KIT_STEP=busy makes one call only, to
// show the fault of a gateway at its limit.

const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const WSU = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const PROFILE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0';

ini_set('soap.wsdl_cache_enabled', '0');
$url = rtrim(getenv('GATEWAY_URL'), '/') . '/soap/v1?wsdl';
$version = getenv('SOAP_VERSION') === '1.2' ? SOAP_1_2 : SOAP_1_1;

function security_header(string $code, string $secret): SoapHeader
{
    $nonce = random_bytes(16);
    $created = gmdate('Y-m-d\TH:i:s\Z');
    $digest = base64_encode(sha1($nonce . $created . $secret, true));
    $xml = '<wsse:Security xmlns:wsse="' . WSSE . '" xmlns:wsu="' . WSU . '">'
        . '<wsse:UsernameToken><wsse:Username>' . htmlspecialchars($code) . '</wsse:Username>'
        . '<wsse:Password Type="' . PROFILE . '#PasswordDigest">' . $digest . '</wsse:Password>'
        . '<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/'
        . 'oasis-200401-wss-soap-message-security-1.0#Base64Binary">' . base64_encode($nonce)
        . '</wsse:Nonce><wsu:Created>' . $created . '</wsu:Created></wsse:UsernameToken>'
        . '</wsse:Security>';
    return new SoapHeader(WSSE, 'Security', new SoapVar($xml, XSD_ANYXML), true);
}

// A client signed in as one agency: each call gets a new Security header.
function agency(string $code, string $secret): Closure
{
    global $url, $version;
    $client = new SoapClient($url, [
        'soap_version' => $version,
        'exceptions' => true,
        'trace' => false,
        'cache_wsdl' => WSDL_CACHE_NONE,
        'connection_timeout' => 60,
    ]);
    return function (string $operation, array $args) use ($client, $code, $secret) {
        $client->__setSoapHeaders([security_header($code, $secret)]);
        return $client->__soapCall($operation, [$args]);
    };
}

// SoapFault: faultcode is the standard code, faultstring "code: sentence", detail the
// GatewayFault with the gateway's code.
function show_fault(string $path, SoapFault $fault): void
{
    $code = $fault->detail->GatewayFault->code;
    $standard = substr(strrchr(':' . $fault->faultcode, ':'), 1);
    echo "fault $path $code $standard | {$fault->faultstring}\n";
}

function as_list($value): array
{
    if ($value === null) {
        return [];
    }
    return is_array($value) ? $value : [$value];
}

$sender = agency(getenv('SENDER_CODE'), getenv('SENDER_SECRET'));
$receiver = agency(getenv('RECEIVER_CODE'), getenv('RECEIVER_SECRET'));

if (getenv('KIT_STEP') === 'busy') {
    // A gateway at its limit refuses every call at once with Server.Busy (soap:Server, or
    // Receiver in SOAP 1.2; HTTP 500 with Retry-After): nothing was done, send it again later.
    try {
        $sender('Ping', []);
    } catch (SoapFault $fault) {
        show_fault('busy', $fault);
    }
    exit(0);
}

$receipt = $sender('SendDocument', ['package' => file_get_contents(getenv('PACKAGE_FILE'))])->receipt;
echo "sent {$receipt->packageId} duplicate=" . ($receipt->duplicate ? 'true' : 'false') . "\n";

$page = $receiver('GetPending', ['kind' => 'document', 'limit' => 100]);
$items = as_list(isset($page->items->item) ? $page->items->item : null);
echo 'pending ' . implode(' ', array_map(fn ($item) => $item->packageId, $items)) . "\n";

$fetched = $receiver('GetPackage', ['packageId' => $receipt->packageId]);
$matches = strlen($fetched->package) === (int) $fetched->size ? 'true' : 'false';
echo "fetched {$fetched->packageId} size={$fetched->size} matches=$matches\n";

$confirmed = $receiver('ConfirmReceived', ['packageId' => $receipt->packageId, 'outcome' => 'ok']);
echo "confirmed {$confirmed->packageId} status={$confirmed->statusPackageId}\n";

$traces = $sender('GetTraces', ['packageId' => $receipt->packageId]);
foreach (as_list(isset($traces->traces->trace) ? $traces->traces->trace : null) as $trace) {
    echo "trace {$trace->statusCode} {$trace->fromAgency} -> {$trace->toAgency}\n";
}

try {
    agency(getenv('SENDER_CODE'), 'not-the-secret')('Ping', []);
} catch (SoapFault $fault) {
    show_fault('auth', $fault);
}
try {
    $sender('SendDocument', ['package' => 'this is not an edXML package']);
} catch (SoapFault $fault) {
    show_fault('validation', $fault);
}
try {
    $sender('SendDocument', ['package' => str_repeat('x', (int) getenv('LIMIT_BYTES'))]);
} catch (SoapFault $fault) {
    show_fault('limits', $fault);
}
