"""The Azure emulator's HTTPS: a throwaway CA and a server certificate for the loopback names."""

from __future__ import annotations

import pathlib
import ssl

from asr_sandbox.pki import Authority, loopback_names, pem, pem_key, write_private


def make_server_context(state_dir: pathlib.Path, host: str) -> tuple[ssl.SSLContext, pathlib.Path]:
    """Write `ca.pem` (what clients trust) and the server's key pair into `state_dir`; return the TLS context."""
    authority = Authority.new("asr-sandbox Azure emulator CA")
    key, certificate = authority.issue("localhost", server_names=loopback_names(host))
    ca_path = state_dir / "ca.pem"
    cert_path = state_dir / "azure-server.pem"
    key_path = state_dir / "azure-server-key.pem"
    ca_path.write_bytes(pem(authority.certificate))
    cert_path.write_bytes(pem(certificate))
    write_private(key_path, pem_key(key))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, ca_path
