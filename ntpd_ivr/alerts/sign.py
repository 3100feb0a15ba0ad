"""CAP out, signed: an enveloped XML Signature (W3C XML-DSig, RSA-SHA256 over SHA-256
digests, the certificate in KeyInfo) where the settings give a key and its certificate
(`[alerts] signing_key_file`, `signing_cert_file`). CAP 1.2 allows the signature as the
alert's last element (the schema's `any` in the xmldsig namespace); the signed alert still
validates against the shipped schema.

signxml (XML-Security's maintained signer/verifier, on lxml and cryptography) rather than
hand-made canonicalisation: C14N and the reference transforms are where signatures break.
Only the center's own output is parsed here, with entities and the network off all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import XMLVerifier

from ntpd_ivr.alerts.model import CapError, clip

DSIG = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class CapSigner:
    key_pem: bytes
    cert_pem: str

    @classmethod
    def from_files(cls, key_file: str, cert_file: str) -> CapSigner | None:
        if not key_file:
            return None
        return cls(Path(key_file).read_bytes(), Path(cert_file).read_text(encoding="ascii"))

    def sign(self, document: bytes) -> bytes:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        root = etree.fromstring(document, parser=parser)
        signer = XMLSigner(method=SignatureConstructionMethod.enveloped)
        signed = signer.sign(root, key=self.key_pem, cert=self.cert_pem)
        body: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
        return body

    def verify(self, document: bytes) -> None:
        """Raises (signxml.exceptions.InvalidSignature) unless this certificate signed it."""
        XMLVerifier().verify(document, x509_cert=self.cert_pem)


def signed_alert(document: bytes, cert_pem: str) -> bytes:
    """CAP in from a feed with a certificate: the alert as signed by that certificate's key
    (an enveloped signature over the whole alert), re-serialised from what the signature
    covers only: text outside it (a wrapping attack) is never read. CapError with the
    reason: unsigned, not verifying, or covering less than the alert. The document has
    passed the safe parser (no DTD, no entities) before it gets here."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(document, parser=parser)
    if root.find(f"{{{DSIG}}}Signature") is None:
        raise CapError("not signed: this feed's alerts must carry an XML Signature "
                       "(alerts.feed_certificates)")
    try:
        result = XMLVerifier().verify(root, x509_cert=cert_pem)
    except InvalidInput as exc:
        raise CapError(f"signature not accepted: {clip(str(exc), 200)}") from None
    except InvalidSignature as exc:
        raise CapError(f"signature does not verify with the feed's certificate: "
                       f"{clip(str(exc), 200)}") from None
    signed = result.signed_xml  # type: ignore[union-attr]
    if signed is None or signed.tag != root.tag:
        raise CapError("the signature does not cover the whole alert")
    body: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return body
