// edoc-gateway from node-soap: send, pull, fetch, confirm, traces, faults (SOAP 1.1 or 1.2).
//
// Settings come from the environment (clients/README.md). node-soap builds the WS-Security
// UsernameToken PasswordDigest by itself (WSSecurity with passwordType "PasswordDigest").
// KIT_STEP=busy makes one call only, to show the fault of a gateway at its limit.
"use strict";

const fs = require("fs");
const soap = require("soap");

const env = process.env;
const url = env.GATEWAY_URL.replace(/\/$/, "") + "/soap/v1?wsdl";
const soap12 = env.SOAP_VERSION === "1.2";
const port = soap12 ? "EdocGatewaySoap12" : "EdocGatewaySoap11";

// A client signed in as one agency; a fresh Nonce and Created are written for every call.
async function agency(code, secret) {
  const client = await soap.createClientAsync(url, { forceSoap12Headers: soap12 });
  client.setSecurity(
    new soap.WSSecurity(code, secret, { passwordType: "PasswordDigest", hasTimeStamp: false })
  );
  const operations = client.EdocGateway[port];
  return (name, args) =>
    new Promise((resolve, reject) =>
      operations[name](args, (error, result) => (error ? reject(error) : resolve(result)))
    );
}

// The gateway's code is in the GatewayFault detail, the sentence in faultstring (1.1) or
// Reason/Text (1.2); node-soap hands the parsed fault over as error.root.
function showFault(path, error) {
  const fault = error.root && error.root.Envelope.Body.Fault;
  if (!fault) throw error;
  const detail = (fault.detail || fault.Detail).GatewayFault;
  const standard = String(fault.faultcode || fault.Code.Value).split(":").pop();
  const reason = fault.faultstring || fault.Reason.Text;
  const text = typeof reason === "object" ? reason.$value : reason;
  console.log(`fault ${path} ${detail.code} ${standard} | ${text}`);
}

function list(value) {
  return value === undefined || value === null ? [] : [].concat(value);
}

async function main() {
  const sender = await agency(env.SENDER_CODE, env.SENDER_SECRET);
  const receiver = await agency(env.RECEIVER_CODE, env.RECEIVER_SECRET);

  if (env.KIT_STEP === "busy") {
    // A gateway at its limit refuses every call at once with Server.Busy (soap:Server, or
    // Receiver in SOAP 1.2; HTTP 500 with Retry-After): nothing was done, send it again later.
    await sender("Ping", {}).catch((error) => showFault("busy", error));
    return;
  }

  const package64 = fs.readFileSync(env.PACKAGE_FILE).toString("base64");
  const { receipt } = await sender("SendDocument", { package: package64 });
  console.log(`sent ${receipt.packageId} duplicate=${receipt.duplicate}`);

  const page = await receiver("GetPending", { kind: "document", limit: 100 });
  const items = list(page.items && page.items.item);
  console.log("pending " + items.map((item) => item.packageId).join(" "));

  const fetched = await receiver("GetPackage", { packageId: receipt.packageId });
  const bytes = Buffer.from(fetched.package, "base64");
  console.log(
    `fetched ${fetched.packageId} size=${fetched.size} matches=${bytes.length === Number(fetched.size)}`
  );

  const confirmed = await receiver("ConfirmReceived", {
    packageId: receipt.packageId,
    outcome: "ok",
  });
  console.log(`confirmed ${confirmed.packageId} status=${confirmed.statusPackageId}`);

  const traces = await sender("GetTraces", { packageId: receipt.packageId });
  for (const trace of list(traces && traces.traces && traces.traces.trace)) {
    console.log(`trace ${trace.statusCode} ${trace.fromAgency} -> ${trace.toAgency}`);
  }

  const stranger = await agency(env.SENDER_CODE, "not-the-secret");
  await stranger("Ping", {}).catch((error) => showFault("auth", error));
  const notEdxml = Buffer.from("this is not an edXML package").toString("base64");
  await sender("SendDocument", { package: notEdxml }).catch((e) => showFault("validation", e));
  const tooLarge = Buffer.alloc(Number(env.LIMIT_BYTES), "x").toString("base64");
  await sender("SendDocument", { package: tooLarge }).catch((e) => showFault("limits", e));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
