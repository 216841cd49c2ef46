"""Who may reach the app: this machine only, unless the user says otherwise twice.

The app listens on 127.0.0.1. Any other address (``make run HOST=0.0.0.0``, a LAN address, or
Streamlit's empty default that means every interface) needs both

- ``ITA_ALLOW_REMOTE=1`` (the explicit "yes, other machines may connect"), and
- ``ITA_APP_PASSWORD`` of at least 8 characters (environment or the project's ``.env``); the app
  then asks for it before showing any page.

`scripts/start.sh` runs ``python -m engine.access HOST`` before starting anything, and the app
itself repeats the check (`app.auth`) in case it was started some other way.

>>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
(True, True, False)
"""

from __future__ import annotations

import ipaddress
import sys

from pydantic import ValidationError

from engine.errors import ConfigurationError
from engine.settings import Settings, get_settings

MIN_PASSWORD_LENGTH = 8


def is_loopback(host: str | None) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = (host or "").strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def remote_problem(host: str | None, settings: Settings) -> str | None:
    """Why the app must not listen on ``host`` with these settings, or None if it may."""
    if is_loopback(host):
        return None
    shown = host or "every address"
    if not settings.allow_remote:
        return (f"refusing to serve ITA on {shown}: other machines could open it. Use 127.0.0.1, "
                "or set ITA_ALLOW_REMOTE=1 and ITA_APP_PASSWORD (in .env) to allow it")
    password = settings.app_password
    if password is None or len(password.get_secret_value()) < MIN_PASSWORD_LENGTH:
        return (f"refusing to serve ITA on {shown}: set ITA_APP_PASSWORD (in .env, at least "
                f"{MIN_PASSWORD_LENGTH} characters) so the app asks for it before any page")
    return None


def check_bind(host: str | None, settings: Settings | None = None) -> None:
    """Raise `ConfigurationError` unless the app may listen on ``host``."""
    problem = remote_problem(host, settings or get_settings())
    if problem:
        raise ConfigurationError(problem)


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.access HOST``: exit 0 if the app may listen there, else 1 and one
    line on stderr."""
    args = sys.argv[1:] if argv is None else argv
    host = args[0] if args else ""
    try:
        check_bind(host)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValidationError as error:
        first = error.errors()[0]
        name = "ITA_" + "_".join(str(part) for part in first["loc"]).upper()
        print(f"error: {name}: {first['msg']}", file=sys.stderr)
        return 1
    if not is_loopback(host):
        print(f"warning: ITA will be reachable from other machines on {host}; it asks for "
              "ITA_APP_PASSWORD. Plain HTTP: use a trusted network or a TLS proxy.",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
