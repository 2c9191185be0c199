// Consumes EVENTS events from the fake Salesforce with the npm salesforce-pubsub-api-client,
// for `byoc-connector bench process --npm-script bench/npm/consume.mjs`. Prints "first" at the
// first event and "last" at the last one (the bench times and samples CPU at those lines), then
// a JSON summary. Configuration comes from the environment the bench sets.
//
// The client pins its own CA bundle (it passes it to grpc as the root certificates), so
// NODE_EXTRA_CA_CERTS does not reach it; against the fake's self-signed certificate the only
// switch it offers is rejectUnauthorizedSsl = false. The connection is still TLS, so the
// client pays the same encryption cost as it would against Salesforce.
import PubSubApiClient from 'salesforce-pubsub-api-client';

const env = (name) => {
    const value = process.env[name];
    if (!value) {
        console.error(`consume.mjs: ${name} is not set`);
        process.exit(2);
    }
    return value;
};
const wanted = Number(env('EVENTS'));
const quiet = { debug() {}, info() {}, warn: console.warn, error: console.error };
const client = new PubSubApiClient(
    {
        authType: 'user-supplied',
        accessToken: env('ACCESS_TOKEN'),
        instanceUrl: env('INSTANCE_URL'),
        organizationId: env('ORG_ID'),
        pubSubEndpoint: env('PUBSUB_ENDPOINT'),
        rejectUnauthorizedSsl: false
    },
    quiet
);
await client.connect();

let received = 0;
let started = 0;
client.subscribeFromEarliestEvent(
    env('TOPIC'),
    (subscription, callbackType, data) => {
        if (callbackType === 'error') {
            console.error(data);
            return;
        }
        if (callbackType !== 'event') {
            return;
        }
        received += 1;
        if (received === 1) {
            started = performance.now();
            console.log('first');
        }
        if (received === wanted) {
            const seconds = (performance.now() - started) / 1000;
            console.log('last');
            console.log(JSON.stringify({ events: received, seconds, eventsPerSec: received / seconds }));
            client.close();
            process.exit(0);
        }
    },
    null
);
