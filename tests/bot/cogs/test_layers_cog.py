"""Tests for bot/cogs/layers.py: /layers explains every preset of every offered model, in words
and in a layer sheet (shipped, cached or made through the job backend), and lists raw layers."""

from __future__ import annotations

import asyncio
import io
import logging
import math
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.cogs.layers import (
    ASSETS,
    CACHE_FOLDER,
    PAGE_LINES,
    SAMPLE_PHOTO,
    SHEET_USER,
    LayerSheets,
    PageButton,
    RawNamesButton,
    layers_embed,
    pages_view,
    raw_pages,
)
from bot.jobs import Job, JobRequest, JobResult
from engine import (
    available_models,
    encode,
    layer_names,
    presets,
    sheet_params,
    sheet_stem,
)
from engine.models import DEFAULT_MODEL
from engine.sheet import SHEET_COLUMNS


def test_every_preset_of_every_model_has_a_line() -> None:
    """One field per model (the first marked default), one line per preset with its description."""
    models = available_models()
    embed = layers_embed(models)
    assert len(embed.fields) == len(models)
    assert "default model" in str(embed.fields[0].name)
    for field, model in zip(embed.fields, models, strict=True):
        assert str(field.name).startswith(model)
        assert field.value is not None and len(field.value) <= 1024
        for preset in presets(model):
            assert f"`{preset.name}`" in field.value and preset.description in field.value
    assert len(embed) <= 6000


def test_one_model_is_marked_default_only_if_it_is() -> None:
    """Shown alone, a model that is not the bot's default is not called the default model."""
    alone = layers_embed(("googlenet",), default="efficientnet_lite0")
    assert len(alone.fields) == 1 and "default model" not in str(alone.fields[0].name)
    marked = layers_embed(("googlenet", "vgg16"), default="vgg16")
    assert "default model" in str(marked.fields[1].name)
    assert "default model" not in str(marked.fields[0].name)


@pytest.mark.parametrize("model", available_models())
def test_raw_pages_list_every_layer_once_in_order(model: str) -> None:
    """Every raw layer, shallow to deep, on pages of at most PAGE_LINES under 2000 characters;
    the layers a preset dreams carry its name."""
    pages = raw_pages(model)
    names = layer_names(model)
    assert len(pages) == math.ceil(len(names) / PAGE_LINES)
    listed = []
    for number, page in enumerate(pages, 1):
        assert len(page) < 2000 and f"page {number} of {len(pages)}" in page
        body = page.split("```\n", 1)[1].rsplit("\n```", 1)[0]
        listed += [line.split()[0] for line in body.splitlines()]
    assert listed == list(names)
    text = "\n".join(pages)
    for preset in presets(model):
        for layer in preset.layers:
            line = next(line for line in text.splitlines() if line.split()[:1] == [layer])
            assert preset.name in line


def test_raw_pages_download_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torchvision model's layer names come without its weights."""
    import torch.hub

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    assert "inception4c" in "\n".join(raw_pages("googlenet"))


def test_page_buttons_step_through_and_stop_at_the_ends() -> None:
    """Previous and Next point at the neighbouring pages, disabled at the ends; one page: none."""
    assert pages_view("vgg16", 0, 1) is None
    for page, count in ((0, 3), (1, 3), (2, 3)):
        view = pages_view("vgg16", page, count)
        assert view is not None
        previous, following = view.children
        assert isinstance(previous, PageButton) and isinstance(following, PageButton)
        assert previous.item.label == "Previous" and following.item.label == "Next"
        assert previous.item.disabled == (page == 0)
        assert following.item.disabled == (page == count - 1)
        if page > 0:
            assert previous.page == page - 1
        if page < count - 1:
            assert following.page == page + 1
        assert previous.item.custom_id != following.item.custom_id
        assert len(view.children) <= 5


def test_button_ids_carry_the_model_and_page() -> None:
    """The custom ids match their templates, so a click after a restart still finds its model."""
    raw = RawNamesButton("efficientnet_lite0").item.custom_id
    page = PageButton("efficientnet_lite0", 3).item.custom_id
    assert raw is not None and page is not None
    match = RawNamesButton.__discord_ui_compiled_template__.fullmatch(raw)
    assert match is not None and match["model"] == "efficientnet_lite0"
    match = PageButton.__discord_ui_compiled_template__.fullmatch(page)
    assert match is not None and (match["model"], match["page"]) == ("efficientnet_lite0", "3")
    assert len(raw) <= 100 and len(page) <= 100


def test_the_bundled_models_sheet_is_shipped_and_current() -> None:
    """bot/assets/ holds the default model's sheet under its current version (else rerun
    bench/layer_sheet.py): small, a 4-column grid of cells the sample photo's size."""
    shipped = sorted(ASSETS.glob(f"{sheet_stem(DEFAULT_MODEL)}.*"))
    assert len(shipped) == 1, "the shipped sheet is stale: run python bench/layer_sheet.py"
    assert len(list(ASSETS.glob(f"layers-{DEFAULT_MODEL}-*"))) == 1  # no stale one left
    assert shipped[0].stat().st_size < 400_000
    with Image.open(SAMPLE_PHOTO) as photo:
        cell = photo.size
    with Image.open(shipped[0]) as sheet:
        rows = math.ceil((len(presets(DEFAULT_MODEL)) + 1) / SHEET_COLUMNS)
        assert SHEET_COLUMNS * cell[0] <= sheet.width < SHEET_COLUMNS * (cell[0] + 8)
        assert rows * cell[1] < sheet.height < rows * (cell[1] + 40)


class FakeJobs:
    """A job backend that records the requests and answers each with a small picture, or holds
    them (``hold``) or fails them (``fail``)."""

    def __init__(self, *, hold: bool = False, fail: bool = False) -> None:
        self.requests: list[JobRequest] = []
        self.jobs: list[Job] = []
        self.cancelled: list[Job] = []
        self.hold = hold
        self.fail = fail
        self.submitted = asyncio.Event()

    async def submit(self, request: JobRequest) -> Job:
        job = Job(request, on_cancel=self._cancel)
        self.requests.append(request)
        self.jobs.append(job)
        self.submitted.set()
        if self.fail:
            job.set_error(RuntimeError("the worker fell over"))
        elif not self.hold:
            self.finish(job)
        return job

    def finish(self, job: Job) -> None:
        shade = 30 * len(self.requests)
        picture = encode(Image.new("RGB", (48, 48), (shade, 100, 200)), stem="dream")
        job.set_result(JobResult(picture=picture, seconds=0.1))

    def _cancel(self, job: Job) -> None:
        self.cancelled.append(job)
        job.set_error(RuntimeError("cancelled"))


def _sheets(jobs: FakeJobs, tmp_path: Path) -> LayerSheets:
    return LayerSheets(jobs, tmp_path / "data", assets=tmp_path / "assets")  # type: ignore[arg-type]


async def test_a_missing_sheet_is_made_through_the_job_backend(tmp_path: Path) -> None:
    """One job per preset, in order, for nobody, on the sample photo; the sheet is cached on
    disk, found again by a fresh service (a restart), and makes no new jobs."""
    jobs = FakeJobs()
    sheets = _sheets(jobs, tmp_path)
    assert await sheets.find("googlenet") is None
    sheet = await sheets.build("googlenet")
    photo = SAMPLE_PHOTO.read_bytes()
    assert [r.params for r in jobs.requests] == [
        sheet_params("googlenet", p.name) for p in presets("googlenet")
    ]
    assert all(r.user_id == SHEET_USER and r.picture == photo for r in jobs.requests)
    cached = tmp_path / "data" / CACHE_FOLDER / sheet.filename
    assert cached.read_bytes() == sheet.data and sheet.filename.startswith(sheet_stem("googlenet"))
    with Image.open(io.BytesIO(sheet.data)) as picture:
        assert picture.width > SHEET_COLUMNS * 100 and picture.height > 2 * 100
    assert await sheets.find("googlenet") == sheet
    again = _sheets(FakeJobs(), tmp_path)
    assert await again.find("googlenet") == sheet
    assert list((tmp_path / "data" / CACHE_FOLDER).iterdir()) == [cached]  # no temporary left


async def test_a_shipped_sheet_is_found_without_jobs(tmp_path: Path) -> None:
    """A sheet in the assets folder under the current name is the answer; an old version is not."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "layers-vgg16-v0-000000000000.png").write_bytes(b"old")
    assert await _sheets(FakeJobs(), tmp_path).find("vgg16") is None
    (tmp_path / "assets" / f"{sheet_stem('vgg16')}.webp").write_bytes(b"current")
    found = await _sheets(FakeJobs(), tmp_path).find("vgg16")
    assert found is not None and found.data == b"current"


async def test_only_one_build_per_model_runs_at_a_time(tmp_path: Path) -> None:
    """Asking again while a model's sheet is being made joins that build; another model's runs."""
    jobs = FakeJobs(hold=True)
    sheets = _sheets(jobs, tmp_path)
    first = sheets.build("googlenet")
    await jobs.submitted.wait()
    assert sheets.build("googlenet") is first and sheets.building("googlenet") is first
    assert len(jobs.requests) == 1  # one preset at a time
    jobs.submitted.clear()
    other = sheets.build("vgg16")
    assert other is not first
    await jobs.submitted.wait()
    assert [r.params.model for r in jobs.requests] == ["googlenet", "vgg16"]
    await sheets.close()
    assert first.cancelled() and other.cancelled()
    assert len(jobs.cancelled) == 2  # the held jobs were cancelled with their builds
    assert sheets.building("googlenet") is None


async def test_a_failed_build_is_logged_and_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A job's failure ends the build with a warning; the next build starts afresh and works."""
    jobs = FakeJobs(fail=True)
    sheets = _sheets(jobs, tmp_path)
    with caplog.at_level(logging.WARNING, logger="bot.cogs.layers"):
        failed = sheets.build("googlenet")
        with pytest.raises(RuntimeError, match="fell over"):
            await failed
    assert any("layer sheet of googlenet" in r.getMessage() for r in caplog.records)
    assert sheets.building("googlenet") is None
    jobs.fail = False
    retried = sheets.build("googlenet")
    assert retried is not failed
    await retried
    assert await sheets.find("googlenet") is not None
