/**
 * The one certificate request a proxy ever makes — PKCS#10 (RFC 2986) for an ECDSA P-256 key, its subject
 * CN=<service> and a single URI SAN, its SPIFFE ID — written out in DER by hand and signed with node:crypto.
 * @peculiar/x509 did this before, but with reflect-metadata, tsyringe and its ASN.1 schemas it was the largest
 * thing a sidecar loaded for one message every few hours (about 10 MB of resident memory per process).
 */
import { generateKeyPair, type KeyObject, sign } from 'node:crypto';

/** A DER TLV: tag, definite length, contents. */
function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  const length =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift((v & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

const SEQUENCE = 0x30;
const SET = 0x31;
const COMMON_NAME = '2.5.4.3';
const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const SUBJECT_ALT_NAME = '2.5.29.17';
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** The DER of a CSR for `publicKey` (its SPKI), signed with `privateKey`. */
export function certificationRequest(
  commonName: string,
  uri: string,
  publicKey: KeyObject,
  privateKey: KeyObject,
): Buffer {
  const subject = tlv(
    SEQUENCE,
    tlv(SET, tlv(SEQUENCE, oid(COMMON_NAME), tlv(0x0c, Buffer.from(commonName, 'utf8')))),
  );
  const san = tlv(SEQUENCE, tlv(0x86, Buffer.from(uri, 'ascii')));
  const extensions = tlv(SEQUENCE, tlv(SEQUENCE, oid(SUBJECT_ALT_NAME), tlv(0x04, san)));
  const attributes = tlv(0xa0, tlv(SEQUENCE, oid(EXTENSION_REQUEST), tlv(SET, extensions)));
  const info = tlv(
    SEQUENCE,
    Buffer.from([0x02, 0x01, 0x00]),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    attributes,
  );
  // node:crypto signs EC keys as a DER ECDSA-Sig-Value, which is what the BIT STRING of a CSR holds.
  const signature = sign('sha256', info, privateKey);
  return tlv(SEQUENCE, info, tlv(SEQUENCE, oid(ECDSA_WITH_SHA256)), tlv(0x03, Buffer.from([0]), signature));
}

export function pem(label: string, der: Buffer | ArrayBuffer): string {
  const body = Buffer.from(der as ArrayBuffer)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${body.trimEnd()}\n-----END ${label}-----\n`;
}

/** A new P-256 key pair. */
export function ecKeyPair(): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return new Promise((resolve, reject) =>
    generateKeyPair('ec', { namedCurve: 'prime256v1' }, (error, publicKey, privateKey) =>
      error ? reject(error) : resolve({ publicKey, privateKey }),
    ),
  );
}
