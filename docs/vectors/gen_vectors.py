#!/usr/bin/env python3
"""Regenerate the crypto test vectors in docs/envelope.md and shared/src/crypto/vectors.rs.

This is an independent implementation of the byte layouts in docs/envelope.md, written from
that document and not from the Rust code. It uses libsodium (PyNaCl) for Ed25519 and
XChaCha20-Poly1305-IETF, pyhpke (over pyca/cryptography) for RFC 9180 HPKE, pyca/cryptography
for HKDF and X25519, and hashlib for SHA-2.

    python3 -m venv /tmp/vec && /tmp/vec/bin/pip install pynacl==1.6.2 pyhpke==0.6.5
    /tmp/vec/bin/python docs/vectors/gen_vectors.py

The output is deterministic: every "random" input is a fixed value derived below.
"""

import hashlib
import struct

import nacl.bindings as sodium
import nacl.signing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pyhpke import AEADId, CipherSuite, KDFId, KEMId


def fixed(label: str, n: int) -> bytes:
    """A 'nothing up my sleeve' test input: SHA-256 of a label, truncated."""
    return hashlib.sha256(b"between test vector: " + label.encode()).digest()[:n]


# Domain-separation tags (docs/envelope.md, "Domain separation"). Each ends in one NUL byte.
TAG_DEVICE_ID = b"between/device-id/v1\x00"
TAG_FINGERPRINT = b"between/fingerprint/v1\x00"
TAG_CERT = b"between/device-cert/v1\x00"
TAG_BUNDLE = b"between/bundle/v1\x00"
TAG_SIGN_IN = b"between/sign-in/v1\x00"
TAG_EPOCH_KEY = b"between/epoch-key/v1\x00"
TAG_PAIRING_MAILBOX = b"between/pairing/v1/mailbox\x00"
TAG_PAIRING_KEY = b"between/pairing/v1/key\x00"
TAG_INVITE = b"between/invite/v1\x00"

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK = CROCKFORD + "*~$=U"

out = []


def emit(name: str, value):
    if isinstance(value, bytes):
        value = value.hex()
    out.append((name, value))


def device_id(signing_pub: bytes) -> bytes:
    return hashlib.sha256(TAG_DEVICE_ID + signing_pub).digest()[:16]


def fingerprint(identity_pub: bytes) -> str:
    h = hashlib.sha512(TAG_FINGERPRINT + identity_pub).digest()
    groups = []
    for i in range(12):
        n = int.from_bytes(h[5 * i : 5 * i + 5], "big") % 100000
        groups.append(f"{n:05d}")
    return " ".join(groups)


def code(secret: bytes) -> str:
    bits = 8 * len(secret)
    digits = -(-bits // 5)
    n = int.from_bytes(secret, "big")
    symbols = "".join(CROCKFORD[(n >> (5 * (digits - 1 - i))) & 31] for i in range(digits))
    symbols += CHECK[n % 37]
    return "-".join(symbols[i : i + 4] for i in range(0, len(symbols), 4))


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


# --- keys -------------------------------------------------------------------------------------
identity_seed = fixed("identity seed", 32)
device_seed = fixed("device signing seed", 32)
device_x25519 = fixed("device agreement secret", 32)

identity = nacl.signing.SigningKey(identity_seed)
identity_pub = bytes(identity.verify_key)
device = nacl.signing.SigningKey(device_seed)
device_pub = bytes(device.verify_key)
device_agreement = sodium.crypto_scalarmult_base(device_x25519)  # clamps, as X25519 does
dev_id = device_id(device_pub)

emit("IDENTITY_SEED", identity_seed)
emit("IDENTITY_PUBLIC", identity_pub)
emit("IDENTITY_FINGERPRINT", fingerprint(identity_pub))
emit("DEVICE_SIGNING_SEED", device_seed)
emit("DEVICE_AGREEMENT_SECRET", device_x25519)
emit("DEVICE_SIGNING_PUBLIC", device_pub)
emit("DEVICE_AGREEMENT_PUBLIC", device_agreement)
emit("DEVICE_ID", dev_id)

# --- device certificate -----------------------------------------------------------------------
ROLE_THERAPIST = 2
issued_at_ms = 1_767_225_600_000  # 2026-01-01T00:00:00Z
cert_body = (
    bytes([1])
    + device_pub
    + device_agreement
    + identity_pub
    + bytes([ROLE_THERAPIST])
    + struct.pack(">q", issued_at_ms)
)
assert len(cert_body) == 106
cert_sig = identity.sign(TAG_CERT + cert_body).signature
emit("CERT_ISSUED_AT_MS", str(issued_at_ms))
emit("CERTIFICATE", cert_body + cert_sig)

# --- sign-in ----------------------------------------------------------------------------------
challenge = fixed("sign-in challenge", 32)
origin = "https://relay.example:8443"
ts = 1_767_225_601_234
sign_in = TAG_SIGN_IN + challenge + struct.pack(">Q", len(origin.encode())) + origin.encode() + struct.pack(">q", ts)
emit("SIGN_IN_CHALLENGE", challenge)
emit("SIGN_IN_ORIGIN", origin)
emit("SIGN_IN_TIMESTAMP_MS", str(ts))
emit("SIGN_IN_MESSAGE", sign_in)
emit("SIGN_IN_SIGNATURE", device.sign(sign_in).signature)

# --- sealed bundle ----------------------------------------------------------------------------
doc_id = fixed("document id", 16)
epoch = 7
counter = 42
KIND_CHANGES = 1
epoch_key = fixed("epoch key", 32)
nonce = fixed("bundle nonce", 24)
plaintext = b"automerge change bytes \x00\x01\x02 - thought record, 2026-01-01"
header = bytes([1, KIND_CHANGES]) + doc_id + struct.pack(">I", epoch) + dev_id + struct.pack(">Q", counter)
assert len(header) == 46
ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, header, nonce, epoch_key)
signed = header + nonce + ciphertext
bundle_sig = device.sign(TAG_BUNDLE + signed).signature
emit("DOC_ID", doc_id)
emit("EPOCH_KEY", epoch_key)
emit("BUNDLE_NONCE", nonce)
emit("BUNDLE_PLAINTEXT", plaintext)
emit("BUNDLE_HEADER", header)
emit("BUNDLE_CIPHERTEXT", ciphertext)
emit("SEALED_BUNDLE", signed + bundle_sig)

# --- HPKE-wrapped epoch key -------------------------------------------------------------------
suite = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.CHACHA20_POLY1305)
ikm_e = fixed("hpke ephemeral ikm", 32)
context = doc_id + struct.pack(">I", epoch) + dev_id
info = TAG_EPOCH_KEY + context
recipient_pub = suite.kem.deserialize_public_key(device_agreement)
eks = suite.kem.derive_key_pair(ikm_e)
enc, sender = suite.create_sender_context(recipient_pub, info=info, eks=eks)
wrapped_ct = sender.seal(epoch_key, aad=info)
assert len(enc) == 32 and len(wrapped_ct) == 48
# Cross-check: pyhpke opens it with the device's secret.
recipient_sk = suite.kem.deserialize_private_key(device_x25519)
assert suite.create_recipient_context(enc, recipient_sk, info=info).open(wrapped_ct, aad=info) == epoch_key
emit("HPKE_IKM_E", ikm_e)
emit("HPKE_INFO", info)
emit("WRAPPED_KEY", bytes([1]) + enc + wrapped_ct)

# --- pairing ----------------------------------------------------------------------------------
pairing_secret = fixed("pairing secret", 16)
mailbox = hkdf(pairing_secret, TAG_PAIRING_MAILBOX)
pairing_key = hkdf(pairing_secret, TAG_PAIRING_KEY)
pairing_nonce = fixed("pairing nonce", 24)
pairing_plain = b"new device public keys go here"
pairing_ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pairing_plain, mailbox, pairing_nonce, pairing_key)
emit("PAIRING_SECRET", pairing_secret)
emit("PAIRING_CODE", code(pairing_secret))
emit("PAIRING_MAILBOX", mailbox)
emit("PAIRING_KEY", pairing_key)
emit("PAIRING_NONCE", pairing_nonce)
emit("PAIRING_PLAINTEXT", pairing_plain)
emit("PAIRING_SEALED", bytes([1]) + pairing_nonce + pairing_ct)

# --- invite -----------------------------------------------------------------------------------
invite_secret = fixed("invite secret", 32)
emit("INVITE_SECRET", invite_secret)
emit("INVITE_CODE", code(invite_secret))
emit("INVITE_HASH", hashlib.sha256(TAG_INVITE + invite_secret).digest())

for name, value in out:
    print(f"{name} = {value}")
