"""`carnet wallet` commands: the reference wallet from a terminal.

The secret code and the e-mail code are prompted for (hidden) unless given with ``--secret-code``
(or ``CARNET_WALLET_SECRET_CODE``) and ``--otp``, for scripts. Nothing secret is ever printed.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import httpx2
import typer

from carnet.wallet.wallet import SECRET_CODE_RULES, Wallet, WalletError, qr_png

app = typer.Typer(
    help=(
        "The reference wallet: the device side of the card (keys, secret code, QR codes), "
        "as a library and `carnet wallet` commands."
    ),
    no_args_is_help=True,
)

Dir = Annotated[Path, typer.Option("--dir", help="The wallet's directory (created if needed)")]
Server = Annotated[
    str | None,
    typer.Option("--server", help="Platform URL, e.g. http://127.0.0.1:8000 (default: remembered)"),
]
SecretCode = Annotated[
    str | None,
    typer.Option(
        "--secret-code",
        envvar="CARNET_WALLET_SECRET_CODE",
        help="The secret code (prompted for, hidden, when absent)",
    ),
]


def _fail(exc: WalletError | httpx2.HTTPError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _print(body: dict[str, Any]) -> None:
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))


def _client(wallet: Wallet, server: str | None) -> httpx2.Client:
    url = server or wallet.server
    if not url:
        typer.echo("error: --server is required (the wallet does not know its platform)", err=True)
        raise typer.Exit(2)
    return httpx2.Client(base_url=url.rstrip("/"), timeout=30)


def _secret(secret_code: str | None) -> str:
    return secret_code or typer.prompt("Secret code", hide_input=True, err=True)


@app.command("activate")
def activate(
    directory: Dir,
    server: Annotated[str, typer.Option("--server", help="Platform URL")],
    nir: Annotated[str, typer.Option("--nir", help="Your social-security number")],
    birth_date: Annotated[str, typer.Option("--birth-date", help="YYYY-MM-DD")],
    email: Annotated[str, typer.Option("--email", help="Where the code is sent")],
    otp: Annotated[str | None, typer.Option("--otp", help="The e-mailed code (scripts)")] = None,
    secret_code: SecretCode = None,
) -> None:
    """Activate a card on this wallet: e-mail code, then choose the secret code."""
    wallet = Wallet.open(directory)
    try:
        with _client(wallet, server) as http:
            wallet.start_activation(http, nir, birth_date, email)
            typer.echo(f"A 6-digit code was sent to {email}.", err=True)
            code = otp or typer.prompt("Code received by e-mail", hide_input=True, err=True)
            wallet.confirm_email(http, code.strip())
            if secret_code is None:
                typer.echo(f"Choose your secret code ({SECRET_CODE_RULES}).", err=True)
                secret_code = typer.prompt(
                    "Secret code", hide_input=True, confirmation_prompt=True, err=True
                )
            body = wallet.complete_activation(http, secret_code)
    except (WalletError, httpx2.HTTPError) as exc:
        raise _fail(exc) from exc
    wallet.remember_server(server)
    _print(body)


@app.command("qr")
def qr(
    directory: Dir,
    secret_code: SecretCode = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also write the QR code here")] = None,
    delegation: Annotated[
        int | None, typer.Option("--delegation", help="Present under this delegation")
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="Draw the QR code in the terminal")] = False,
) -> None:
    """Print a fresh single-use code (made offline, valid 2 minutes)."""
    wallet = Wallet.open(directory)
    try:
        text = wallet.present(_secret(secret_code), delegation_id=delegation)
        if png is not None:
            version = qr_png(text, png)
            typer.echo(f"QR version {version} (level Q) written to {png}", err=True)
    except WalletError as exc:
        raise _fail(exc) from exc
    if show:
        import segno

        segno.make(text, error="q", micro=False, boost_error=False).terminal(compact=True)
    typer.echo(text)


@app.command("status")
def status(directory: Dir) -> None:
    """What the wallet stores (offline; no secret is stored)."""
    state = Wallet.open(directory).state
    _print(state)


@app.command("card")
def card(directory: Dir, server: Server = None, secret_code: SecretCode = None) -> None:
    """The card as the platform sees it: status, devices, beneficiaries."""
    wallet = Wallet.open(directory)
    try:
        with _client(wallet, server) as http:
            body = wallet.card(http, _secret(secret_code))
    except (WalletError, httpx2.HTTPError) as exc:
        raise _fail(exc) from exc
    _print(body)


@app.command("token")
def token(directory: Dir, server: Server = None, secret_code: SecretCode = None) -> None:
    """Sign in with the card and print a holder access token (for the health space's API).

    Use it in a script: ``TOKEN=$(carnet wallet token --dir DIR)``; it is valid a few minutes.
    """
    wallet = Wallet.open(directory)
    try:
        with _client(wallet, server) as http:
            access_token = wallet.session(http, _secret(secret_code))
    except (WalletError, httpx2.HTTPError) as exc:
        raise _fail(exc) from exc
    typer.echo(access_token)


@app.command("suspend")
def suspend(directory: Dir, server: Server = None, secret_code: SecretCode = None) -> None:
    """Suspend the card at once."""
    wallet = Wallet.open(directory)
    try:
        with _client(wallet, server) as http:
            body = wallet.suspend(http, _secret(secret_code))
    except (WalletError, httpx2.HTTPError) as exc:
        raise _fail(exc) from exc
    _print(body)


def _parse_moment(value: str) -> datetime:
    """A date (end of that day, UTC) or an ISO date-time (UTC when no offset is given)."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(23, 59, 59), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date or ISO date-time: {value!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@app.command("delegate")
def delegate(
    directory: Dir,
    delegate_nir: Annotated[str, typer.Option("--delegate-nir", help="The trusted person")],
    beneficiary_nir: Annotated[
        str, typer.Option("--beneficiary-nir", help="Yourself or one of your dependants")
    ],
    until: Annotated[str, typer.Option("--until", help="YYYY-MM-DD or ISO date-time")],
    starts: Annotated[str | None, typer.Option("--from", help="Default: now")] = None,
    server: Server = None,
    secret_code: SecretCode = None,
) -> None:
    """Delegate the use of your card (for you or a dependant) to a person with a card."""
    wallet = Wallet.open(directory)
    try:
        with _client(wallet, server) as http:
            body = wallet.delegate(
                http,
                _secret(secret_code),
                delegate_nir=delegate_nir,
                beneficiary_nir=beneficiary_nir,
                ends_at=_parse_moment(until),
                starts_at=_parse_moment(starts) if starts else None,
            )
    except (WalletError, httpx2.HTTPError) as exc:
        raise _fail(exc) from exc
    _print(body)


@app.command("delegations")
def delegations(directory: Dir, server: Server = None, secret_code: SecretCode = None) -> None:
    """Delegations you gave and received."""
    wallet = Wallet.open(directory)
    try:
        with _client(wallet, server) as http:
            body = wallet.delegations(http, _secret(secret_code))
    except (WalletError, httpx2.HTTPError) as exc:
        raise _fail(exc) from exc
    _print(body)


@app.command("revoke-delegation")
def revoke_delegation(
    directory: Dir,
    delegation_id: Annotated[int, typer.Argument(help="The delegation's id")],
    server: Server = None,
    secret_code: SecretCode = None,
) -> None:
    """Revoke a delegation you gave (or give up one you received), at once."""
    wallet = Wallet.open(directory)
    try:
        with _client(wallet, server) as http:
            body = wallet.revoke_delegation(http, _secret(secret_code), delegation_id)
    except (WalletError, httpx2.HTTPError) as exc:
        raise _fail(exc) from exc
    _print(body)


@app.command("lost")
def lost(
    server: Annotated[str, typer.Option("--server", help="Platform URL")],
    nir: Annotated[str, typer.Option("--nir")],
    birth_date: Annotated[str, typer.Option("--birth-date", help="YYYY-MM-DD")],
    email: Annotated[str, typer.Option("--email", help="Your account's e-mail")],
    otp: Annotated[str | None, typer.Option("--otp", help="The e-mailed code (scripts)")] = None,
) -> None:
    """Lost phone: suspend your card from any computer (e-mail code)."""
    try:
        with httpx2.Client(base_url=server.rstrip("/"), timeout=30) as http:
            started = Wallet.report_lost(http, nir, birth_date, email)
            code = otp or typer.prompt("Code received by e-mail", hide_input=True, err=True)
            body = Wallet.confirm_lost(http, started["activation_id"], code.strip())
    except (WalletError, httpx2.HTTPError) as exc:
        raise _fail(exc) from exc
    _print(body)
