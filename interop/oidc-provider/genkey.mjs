#!/usr/bin/env node
// Prints a private JWKS ({"keys":[...]}) with one freshly generated signing key.
//
//   node genkey.mjs [ALG] [KID]
//
// ALG: RS256 (default), RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA.
// KID: defaults to "<alg lowercased>-<8 random hex chars>".
// The JWK carries "alg", "use":"sig" and "kid", so provider.mjs signs with that alg.
import * as crypto from 'node:crypto';

const alg = process.argv[2] || 'RS256';
const kid = process.argv[3] || `${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}`;

let pair;
if (/^(RS|PS)(256|384|512)$/.test(alg)) {
  pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
} else if (alg === 'ES256' || alg === 'ES384' || alg === 'ES512') {
  const namedCurve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg];
  pair = crypto.generateKeyPairSync('ec', { namedCurve });
} else if (alg === 'EdDSA' || alg === 'Ed25519') {
  pair = crypto.generateKeyPairSync('ed25519');
} else {
  process.stderr.write(`genkey: unsupported alg ${alg}\n`);
  process.exit(2);
}

const jwk = { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
process.stdout.write(`${JSON.stringify({ keys: [jwk] })}\n`);
