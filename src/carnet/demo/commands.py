"""``carnet demo``: the synthetic population and the demo set-up used by ``make run``."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from carnet.config import Settings, get_settings

app = typer.Typer(no_args_is_help=True, help="Synthetic population and demo data.")

DEFAULT_SEED = 2026

_LABELS = {
    "plain": "an ordinary identity",
    "homonyms": "homonyms: same birth name, first name, sex and date",
    "homonyms_with_place": "the same homonym, told apart by the birth place",
    "twin": "a twin (same name, date and place as the sibling)",
    "nia": "a NIA holder (born abroad, waiting for a NIR)",
    "nia_history": "a NIR that replaced a NIA (the NIA is in the history)",
    "partial_date": "a partial birth date (unknown day/month: 00)",
    "accents": "a compound name with accents, typed as is (the search normalises it)",
}


@app.command()
def population(
    size: Annotated[int, typer.Option(min=0, help="Number of persons")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same rows")] = (
        DEFAULT_SEED
    ),
    out: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Generating processes (the output is the same for any)")
    ] = 1,
) -> None:
    """Write a synthetic register (import CSV format) to standard output or a file."""
    _write_register(size, seed, out, workers, None)


def _write_register(
    size: int, seed: int, out: Path | None, workers: int, progress: Callable[[int], None] | None
) -> None:
    from carnet.demo.loader import write_population
    from carnet.demo.population import write_population_csv

    if out is None:
        try:
            write_population_csv(sys.stdout, size, seed, workers=workers, progress=progress)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (`| head`): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    count = write_population(out, size, seed, workers=workers)
    typer.echo(f"{count:,} persons written to {out}", err=True)


@app.command()
def load(
    size: Annotated[int, typer.Option(min=1, help="Persons the register should hold")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed of the population")] = DEFAULT_SEED,
    progress: Annotated[bool, typer.Option(help="Show the import progress")] = True,
) -> None:
    """Load the demo: synthetic register, a care structure and an API client (idempotent)."""
    from carnet.commands_support import auth_service, database
    from carnet.demo.loader import DEMO_CARD_SCOPES, DEMO_SCOPES, DEMO_STRUCTURE_NAME, load_demo

    settings = get_settings()
    setup = load_demo(
        database(),
        auth_service(),
        settings.data_dir,
        size=size,
        seed=seed,
        progress=progress,
        say=lambda line: typer.echo(line, err=True),
    )
    if setup.imported is not None:
        report = setup.imported
        typer.echo(
            f"Imported {report.read:,} lines in {report.seconds:.1f} s "
            f"({report.inserted:,} new, {report.updated:,} updated, "
            f"{report.unchanged:,} unchanged).",
            err=True,
        )
    base = settings.issuer.rstrip("/")
    credentials = shlex.quote(f"{setup.client_id}:{setup.client_secret}")
    lines = [
        "",
        f"Register: {setup.persons:,} persons.",
        f"Care structure #{setup.structure_id}: {DEMO_STRUCTURE_NAME}.",
        "Demo API client ("
        + ("reused" if setup.client_reused else "new")
        + f", bound to the structure; scopes: {' '.join(DEMO_SCOPES)}):",
        f"  client_id     {setup.client_id}",
        f"  client_secret {setup.client_secret}",
        "",
        "Get a token, then search an INS by traits:",
        f"  TOKEN=$(curl -s -u {credentials} -d grant_type=client_credentials \\",
        f"    {base}/oauth2/token | python3 -c 'import json,sys; "
        'print(json.load(sys.stdin)["access_token"])\')',
    ]
    example = setup.examples[0].body if setup.examples else {
        "birth_name": "MARTIN", "first_name": "JEAN", "sex": "M", "birth_date": "1970-01-01",
    }  # fmt: skip
    lines += [
        '  curl -s -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\',
        f"    -d {shlex.quote(json.dumps(example, ensure_ascii=False))} \\",
        f"    {base}/api/v1/ins/search",
        "",
    ]
    if setup.examples:
        lines.append("Identities to try (POST /api/v1/ins/search, expected INSi code first):")
        for query in setup.examples:
            lines.append(f"  {query.expected}  {_LABELS.get(query.category, query.category)}")
            lines.append(f"      {json.dumps(query.body, ensure_ascii=False)}")
    else:
        lines.append(
            "No example identities: the register was not loaded from a demo population file."
        )
    from carnet.demo.loader import load_card_demo

    card = load_card_demo(
        database(),
        auth_service(),
        settings.data_dir,
        setup.population_file,
        seed=seed,
        say=lambda line: typer.echo(line, err=True),
    )
    lines += [
        "",
        f"The digital card — a doctor's software client (bound to RPPS {card.professional_rpps};"
        f" scopes: {' '.join(DEMO_CARD_SCOPES)}):",
        f"  client_id     {card.client_id}",
        f"  client_secret {card.client_secret}",
    ]
    if card.holder is not None:
        holder = card.holder
        lines += [
            f"An insured person with {card.dependants} children attached: activate the card with"
            " the reference wallet (the e-mailed code is in the development mailbox:"
            " `carnet mail list`, `carnet mail show ID`):",
            f"  .venv/bin/carnet wallet activate --server {base} --dir var/demo-wallet \\",
            f"    --nir {holder['nir']} --birth-date {holder['birth_date']}"
            f" --email {holder['email']}",
            "  .venv/bin/carnet wallet qr --dir var/demo-wallet --png var/card.png",
            "Then POST the QR text to /api/v1/apcv/contexts with the doctor's token and"
            f' {{"professional": {{"rpps": "{card.professional_rpps}"}}}}.',
        ]
        from carnet.demo.spaces import load_space_demo

        spaces = load_space_demo(
            database(),
            settings,
            holder_nir=holder["nir"],
            doctor_professional_id=card.professional_id,
            doctor_client_id=card.client_id,
        )
        lines += [
            "",
            f"Health spaces: the holder's and the children's are open (person ids"
            f" {', '.join(map(str, spaces.person_ids))}); the holder's has a medical profile and"
            " reports from the demo doctor. With the activated wallet:",
            "  TOKEN=$(.venv/bin/carnet wallet token --dir var/demo-wallet)",
            f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/api/v1/spaces/me/documents',
            f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/api/v1/spaces/me/profile',
            f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/api/v1/spaces/me/history',
            "The doctor's software reads them in FHIR (scope dmp):"
            f" {base}/fhir/DocumentReference?patient=Patient/{spaces.person_ids[0]}",
        ]
    lines += _portal_lines(settings, card.holder, card.dependants)
    lines.append(f"API reference: {base}/api/openapi.json")
    typer.echo("\n".join(lines))


def _portal_lines(settings: Settings, holder: dict[str, str] | None, children: int) -> list[str]:
    """The web portals' demo accounts and how to sign in as each (new one-time links)."""
    from carnet.commands_support import database
    from carnet.demo.portals import load_portal_demo

    portals = load_portal_demo(database(), settings)
    # The pages' passkeys are bound to this origin (localhost: a secure context over http).
    web = settings.card_webauthn_origin.rstrip("/")
    lines = ["", f"Web portals ({web}; passkeys work on this address only):"]
    if holder is not None:
        year, month, day = holder["birth_date"].split("-")
        lines += [
            f"- Insured person, parent of {children} children attached to the card:"
            f" activate the card at {web}/carte/activer",
            f"    NIR {holder['nir']}, birth date {day}/{month}/{year}, e-mail {holder['email']}",
            "    The e-mailed code: `.venv/bin/carnet mail list`, then"
            " `.venv/bin/carnet mail show ID`.",
            "    Then Ma carte (QR code), délégations, historique, and the health space"
            f" {web}/espace-sante",
            "    (the children's spaces too). One card per person: activate it either here or"
            " with the wallet above.",
        ]
    lines += [
        f"- Doctor {portals.doctor.name}: open once to create a passkey, then sign in at"
        f" {web}/pro/connexion",
        f"    {web}{portals.doctor.enrol_path}",
        f"- Pharmacist {portals.pharmacist.name}: the same",
        f"    {web}{portals.pharmacist.enrol_path}",
    ]
    if portals.operator is None:
        lines.append(
            f"- Back-office operator {portals.operator_email}: disabled in the back office, no"
            " link (`carnet operators create` makes another account)"
        )
    else:
        lines += [
            f"- Back-office operator {portals.operator.name} ({portals.operator_email}, role"
            " admin" + (", new" if portals.operator_new else "") + "): open once to create a"
            f" passkey, then sign in at {web}/gestion/connexion",
            f"    {web}{portals.operator.enrol_path}",
        ]
    lines.append("  (each link works once and expires; every `make run` prints new ones)")
    return lines


population_app = typer.Typer(
    no_args_is_help=True,
    help="A synthetic national population in the import formats (register, rights, cards).",
)


@population_app.command("generate")
def population_generate(
    size: Annotated[int, typer.Option(min=0, help="Number of persons")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = (
        DEFAULT_SEED
    ),
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write every file into this directory (register.csv, rights.csv with the "
            "dependants, card_holders.csv) instead of the register on standard output"
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Report progress on standard error")] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes generating the register on standard output (the output is the same "
            "for any number; default: one per core)",
        ),
    ] = os.cpu_count() or 1,
) -> None:
    """Stream a synthetic population: the register CSV on standard output, or every file."""
    if out is None:
        step = max(size // 20, 1)
        reported = [0]

        def register_progress(count: int) -> None:
            if progress and (count - reported[0] >= step or count == size):
                reported[0] = count
                typer.echo(f"register: {count:,} lines", err=True)

        _write_register(size, seed, None, workers, register_progress)
        return
    from carnet.demo.families import write_population_files

    def report(stage: str, count: int) -> None:
        if progress:
            typer.echo(f"{stage}: {count:,} lines", err=True)

    counts = write_population_files(out, size, seed, progress=report)
    typer.echo(json.dumps({"out": str(out), **counts}))
