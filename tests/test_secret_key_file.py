"""``--secret-key-file PATH``: the key without putting it on the command line,
where ``ps`` shows it to every user. On ``client-portal`` commands and the
example hosts alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from client_portal_core import Settings
from client_portal_core.__main__ import main
from client_portal_core.storage import build_tables
from client_portal_core.webhooks import webhook_sealer
from support import run_host_cli

OLD_KEY = "old-secret-key-aaaaaaaaaaaaaaaa"
NEW_KEY = "new-secret-key-bbbbbbbbbbbbbbbb"
HOSTS = ["examples.fastapi_host", "examples.flask_host"]


def test_client_portal_reads_the_keys_one_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"{OLD_KEY}\n\n{NEW_KEY}\n")
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    from client_portal_core import migrate

    migrate.upgrade(url)

    status = main(
        [
            "add-webhook", "--database-url", url, "--secret-key-file", str(keys),
            "--tenant", "t1", "--url", "http://127.0.0.1:9/hook", "--allow-private-urls",
        ]
    )  # fmt: skip

    assert status == 0
    added = json.loads(capsys.readouterr().out)
    table = build_tables().webhook_endpoints
    with sa.create_engine(url).connect() as conn:
        sealed = conn.execute(sa.select(table.c.sealed_secret)).scalar_one()
    # Sealed with the newest key of the file: it alone opens the secret.
    newest = webhook_sealer(Settings.build(secret_key=NEW_KEY))
    assert newest.unseal(sealed) == added["secret"]


def test_client_portal_reports_an_unreadable_key_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["prune-webhooks", "--database-url", f"sqlite:///{tmp_path / 'x.db'}",
         "--secret-key-file", str(tmp_path / "missing")]
    )  # fmt: skip

    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert "--secret-key-file" in err


def test_client_portal_refuses_both_a_key_and_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["webhook-worker", "--secret-key", OLD_KEY, "--secret-key-file", "f", "--once"])

    assert exited.value.code == 2


@pytest.mark.parametrize("module", HOSTS)
def test_an_example_host_takes_its_key_from_a_file(module: str, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(NEW_KEY + "\n")
    url = f"sqlite:///{tmp_path / 'portal.db'}"

    done = run_host_cli(module, "seed", "--database-url", url, "--secret-key-file", str(key_file))

    assert done.returncode == 0, done.stderr
    assert "a copy of the database opens every portal link" not in done.stderr


@pytest.mark.parametrize("module", HOSTS)
def test_an_example_host_refuses_an_unreadable_or_short_key_file(
    module: str, tmp_path: Path
) -> None:
    short = tmp_path / "short"
    short.write_text("tiny\n")
    url = f"sqlite:///{tmp_path / 'portal.db'}"

    missing = run_host_cli(module, "seed", "--database-url", url, "--secret-key-file", "/nope")
    too_short = run_host_cli(module, "seed", "--database-url", url, "--secret-key-file", str(short))

    for done in (missing, too_short):
        assert done.returncode == 2
        assert "--secret-key-file" in done.stderr
        assert "Traceback" not in done.stderr
