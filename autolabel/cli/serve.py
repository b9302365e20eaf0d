"""``autolabel serve labelstudio``: serve the pipeline as a Label Studio ML backend."""

from __future__ import annotations

import ipaddress

import click

from autolabel.cli import echo
from autolabel.config import list_presets


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.group("serve")
def serve() -> None:
    """Serve the pipeline to a labeling platform (`autolabel serve labelstudio --help`)."""


@serve.command("labelstudio", context_settings={"show_default": True})
@click.option("--preset", type=click.Choice(list_presets()), default=None, help="Named settings (default: default).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help="YAML config (see configs/).")
@click.option("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0: every interface; use basic auth then).")
@click.option("--port", type=click.IntRange(1, 65535), default=9090, help="Port to listen on.")
@click.option("--label-studio-url", envvar="LABEL_STUDIO_URL", default=None,
              help="Label Studio's URL, for task images (/data/upload/...) [env LABEL_STUDIO_URL; default: what /setup says].")
@click.option("--api-key", envvar="LABEL_STUDIO_API_KEY", default=None,
              help="Label Studio API token for fetching images [env LABEL_STUDIO_API_KEY].")
@click.option("--basic-auth-user", envvar="BASIC_AUTH_USER", default=None, help="Require HTTP basic auth: user [env BASIC_AUTH_USER].")
@click.option("--basic-auth-pass", envvar="BASIC_AUTH_PASS", default=None, help="Require HTTP basic auth: password [env BASIC_AUTH_PASS].")
@click.option("--local-root", "local_roots", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="A folder whose files tasks may name by local path (repeatable; default: none).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Largest image (pixels) decoded; larger ones get empty results.")
@click.option("--fetch-timeout", type=click.FloatRange(min=0.1), default=30.0, help="Seconds one image fetch may take.")
@click.option("--max-image-mb", type=click.FloatRange(min=0.01), default=64.0, help="Largest image file fetched (MiB).")
@click.option("--max-request-mb", type=click.FloatRange(min=0.01), default=32.0, help="Largest request body (MiB).")
@click.option("--max-waiting", type=click.IntRange(min=0), default=4, help="Requests that may wait while one runs; more get 503.")
@click.option("--queue-timeout", type=click.FloatRange(min=0), default=90.0, help="Seconds a request waits for the model before a 503.")
@click.option("--device", default=None, help="auto, cpu, cuda, cuda:1, ...")
@click.pass_context
def labelstudio(ctx: click.Context, preset: str | None, config_file: str | None, host: str, port: int,
                label_studio_url: str | None, api_key: str | None, basic_auth_user: str | None,
                basic_auth_pass: str | None, local_roots: tuple[str, ...], max_pixels: int | None,
                fetch_timeout: float, max_image_mb: float, max_request_mb: float, max_waiting: int,
                queue_timeout: float, device: str | None) -> None:
    """Serve Label Studio's ML backend protocol on HOST:PORT.

    Connect it in Label Studio (project Settings > Model > Connect Model, URL
    http://HOST:PORT), then "Retrieve Predictions" in the Data Manager. The project's labeling
    config decides what comes back: RectangleLabels boxes, PolygonLabels polygons or BrushLabels
    masks, named with the config's labels (mapped onto ImageNet classes through WordNet).
    """
    from autolabel.cli.annotate import build_config
    from autolabel.integrations.labelstudio import Backend, BackendSettings
    from autolabel.integrations.labelstudio import serve as run_server

    if bool(basic_auth_user) != bool(basic_auth_pass):
        raise click.UsageError("give both --basic-auth-user and --basic-auth-pass, or neither")
    if label_studio_url and not label_studio_url.startswith(("http://", "https://")):
        raise click.UsageError(f"--label-studio-url must start with http:// or https://, got {label_studio_url!r}")
    cfg = build_config(preset, config_file, {"max_pixels": max_pixels, "device": device})
    settings = BackendSettings(
        label_studio_url=label_studio_url.rstrip("/") if label_studio_url else None,
        api_key=api_key or None,
        name=preset or ("config" if config_file else "default"),
        fetch_timeout=fetch_timeout,
        max_image_bytes=int(max_image_mb * 1024 * 1024),
        local_roots=local_roots,
        max_waiting=max_waiting,
        queue_timeout=queue_timeout,
        max_request_bytes=int(max_request_mb * 1024 * 1024),
    )
    if cfg.vocabulary:
        echo(f"note: the config's vocabulary ({cfg.vocabulary}) is not used: each project's labels are the classes", err=True)
    echo(f"loading models ({cfg.extractor}, {cfg.classifier})...", err=True)
    backend = Backend(cfg, settings)
    auth = (basic_auth_user, basic_auth_pass) if basic_auth_user and basic_auth_pass else None
    if not _loopback(host) and auth is None:
        echo(f"warning: listening on {host} without --basic-auth-user/--basic-auth-pass: anyone who can reach it can "
             "use the model", err=True)
    echo(f"Label Studio ML backend on http://{host}:{port} (model version {backend.model_version()}); "
         f"connect it in the project's Settings > Model", err=True)
    if not settings.label_studio_url:
        echo("no --label-studio-url: task images are fetched from the hostname Label Studio sends with /setup", err=True)
    verbose = (ctx.find_root().obj or {}).get("verbose", 0)
    level = "debug" if verbose > 1 else "info" if verbose == 1 else "warning"
    run_server(backend, host=host, port=port, basic_auth=auth, log_level=level)
