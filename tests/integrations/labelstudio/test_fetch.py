"""Task images: Label Studio URLs with the token, other hosts without, local files only below a root, bounds."""

from __future__ import annotations

import time

import httpx
import pytest

from autolabel.integrations.labelstudio.fetch import ImageFetcher, ImageFetchError, Origin, same_origin

LS = Origin("http://ls.test:8080", "KEY")


def recorder(body: bytes = b"IMG", status: int = 200, headers: dict | None = None):
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "ls.test" and request.url.path == "/redirect":
            return httpx.Response(302, headers={"Location": "http://other.test/img.jpg"})
        return httpx.Response(status, content=body, headers=headers or {})

    return httpx.MockTransport(handle), seen


@pytest.mark.parametrize("ref", ["/data/upload/3/abc-cat.jpg", "/data/local-files/?d=photos/cat%20one.jpg"])
def test_label_studio_urls_go_to_label_studio_with_the_token(ref):
    transport, seen = recorder()
    with ImageFetcher(transport=transport) as f:
        assert f.fetch(ref, LS) == b"IMG"
    assert str(seen[0].url) == "http://ls.test:8080" + ref
    assert seen[0].headers["authorization"] == "Token KEY"


def test_the_token_goes_only_to_label_studios_origin():
    transport, seen = recorder()
    with ImageFetcher(transport=transport) as f:
        f.fetch("http://ls.test:8080/data/upload/1/a.jpg", LS)
        f.fetch("http://elsewhere.test/a.jpg", LS)
        f.fetch("http://ls.test:9999/a.jpg", LS)
        f.fetch("/redirect", LS)  # Label Studio redirects to another host: the token stays behind
    assert [r.headers.get("authorization") for r in seen] == ["Token KEY", None, None, "Token KEY", None]


def test_relative_url_without_a_label_studio_url():
    with ImageFetcher() as f, pytest.raises(ImageFetchError, match="--label-studio-url"):
        f.fetch("/data/upload/1/a.jpg", Origin())


@pytest.mark.parametrize(("status", "says"), [(404, "HTTP 404"), (401, "--api-key")])
def test_http_errors(status, says):
    transport, _ = recorder(status=status)
    with ImageFetcher(transport=transport) as f, pytest.raises(ImageFetchError, match=says.replace("-", r"\-")):
        f.fetch("/data/upload/1/a.jpg", LS)


def test_too_large_declared_and_streamed():
    transport, _ = recorder(body=b"x" * 1000)
    with ImageFetcher(max_bytes=100, transport=transport) as f, pytest.raises(ImageFetchError, match="more than 100"):
        f.fetch("/a.jpg", LS)

    def no_length(request):
        return httpx.Response(200, stream=httpx.ByteStream(b"x" * 1000))

    with ImageFetcher(max_bytes=100, transport=httpx.MockTransport(no_length)) as f, pytest.raises(ImageFetchError, match="more than 100"):
        f.fetch("/a.jpg", LS)


def test_timeout():
    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    with ImageFetcher(timeout=0.5, transport=httpx.MockTransport(slow)) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageFetchError, match="no answer within 0.5 s"):
            f.fetch("/a.jpg", LS)
        assert time.monotonic() - t0 < 5


def test_local_files_only_below_a_root(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"A")
    (tmp_path / "secret.jpg").write_bytes(b"S")
    (root / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    with ImageFetcher() as f, pytest.raises(ImageFetchError, match="--local-root"):
        f.fetch(f"file://{root / 'a.jpg'}", Origin())
    with ImageFetcher(local_roots=[root]) as f:
        assert f.fetch(str(root / "a.jpg"), Origin()) == b"A"
        assert f.fetch(f"file://{root / 'a.jpg'}", Origin()) == b"A"
        for outside in (f"file://{tmp_path / 'secret.jpg'}", f"file://{root / 'link.jpg'}", f"file://{root}/../secret.jpg"):
            with pytest.raises(ImageFetchError, match="not below"):
                f.fetch(outside, Origin())


@pytest.mark.parametrize(("ref", "says"), [(None, "not a URL"), ("", "not a URL"), (3, "not a URL"),
                                           ("s3://bucket/a.jpg", "scheme 's3'"), ("photos/a.jpg", "neither")])
def test_refs_that_name_no_image(ref, says):
    with ImageFetcher() as f, pytest.raises(ImageFetchError, match=says):
        f.fetch(ref, LS)


def test_same_origin():
    assert same_origin("http://a:80/x", "http://a/y") and same_origin("https://A/x", "https://a:443")
    assert not same_origin("http://a/x", "https://a/x") and not same_origin("http://a:1/", "http://a:2/")
