"""The job form (`ft.ui.train()`): fields generated from `TrainSpec`, auto-sized defaults with their reasons,
invalid fields marked with the schema's message, Submit, and "clone and edit" from an existing job."""

from __future__ import annotations

import html
import threading
import time
from typing import Any, Callable

import ipywidgets as widgets

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.spec import fields as spec_fields
from jupyter_ft.core.spec.fields import FieldSpec
from jupyter_ft.core.spec.train import SpecError, TrainSpec, parse_spec

from jupyter_ft.widgets import catalog

LABEL_WIDTH = "150px"
MAX_TEXT_ROWS = 24  # a YAML field showing a shipped reward function grows up to this
ERROR_STYLE = "color:#c62828"
HINT_STYLE = "color:#666;font-size:90%"
# Changing one of these changes what sizing picks, or what only the preview checks (the dataset's kind).
SIZING_INPUTS = {"model", "technique", "dataset", "lora", "lora.r", "lora.alpha", "max_length", "device", "precision",
                 "batch_size", "grad_accum", "gradient_checkpointing", "learning_rate"}
# Messages the form does not show while a field is simply still empty (they are shown on Submit).
_MISSING = ("Field required",)


class _Control:
    """One field: its input widget, a hint (description or auto value + why), and an error line."""

    def __init__(self, f: FieldSpec, widget: widgets.Widget):
        self.field = f
        self.widget = widget
        self.hint = widgets.HTML()
        self.error = widgets.HTML()
        self.row = widgets.VBox([widgets.HBox([widget, self.hint]), self.error],
                                layout=widgets.Layout(margin="0 0 2px 0"))
        self.row.add_class("jft-field")  # addressable in the page (browser tests): .jft-field-lora-r .jft-hint
        self.row.add_class("jft-field-" + f.path.replace(".", "-"))
        self.hint.add_class("jft-hint")
        self.error.add_class("jft-error")
        self._describe()

    def _describe(self, auto: tuple[str, str] | None = None) -> None:
        f = self.field
        if auto:
            value, why = auto
            text = f"auto: <b>{html.escape(value)}</b>" + (f" — {html.escape(why)}" if why else "")
            if isinstance(self.widget, (widgets.Text, widgets.Combobox)):
                self.widget.placeholder = f"{value} (auto)"
        else:
            text = html.escape(f.description)
            if isinstance(self.widget, (widgets.Text, widgets.Combobox)) and f.optional:
                self.widget.placeholder = "auto" if f.kind in ("int", "float") else ""
        self.hint.value = f"<span style='{HINT_STYLE}'>{text}</span>"

    def get(self) -> Any:
        return self.widget.value

    def set(self, raw: Any) -> None:
        self.widget.value = raw
        if isinstance(self.widget, widgets.Textarea) and isinstance(raw, str):
            self.widget.rows = min(MAX_TEXT_ROWS, max(self.widget.rows, raw.count("\n") + 1))  # shipped source

    def mark(self, message: str | None) -> None:
        if message:
            self.error.value = f"<span style='{ERROR_STYLE}'>⚠ {html.escape(self.field.path)}: {html.escape(message)}</span>"
            self.widget.add_class("jft-invalid")
            self.widget.layout.border = "1px solid #c62828"
        else:
            self.error.value = ""
            self.widget.remove_class("jft-invalid")
            self.widget.layout.border = None


def _input(f: FieldSpec, dataset_options: list[str]) -> widgets.Widget:
    common = dict(description=f.name, style={"description_width": LABEL_WIDTH}, layout=widgets.Layout(width="420px"))
    if f.kind == "choice":
        return widgets.Dropdown(options=list(f.choices), value=f.default if f.default in f.choices else f.choices[0], **common)
    if f.kind == "bool":
        return widgets.Checkbox(value=bool(f.default), indent=True, **common)
    if f.kind == "tristate":
        return widgets.Dropdown(options=[("auto", None), ("on", True), ("off", False)], value=f.default, **common)
    if f.kind == "yaml":
        return widgets.Textarea(value="", placeholder="YAML", rows=3, continuous_update=False, **common)
    if f.path == "dataset":
        return widgets.Combobox(value="", options=dataset_options, ensure_option=False, continuous_update=False,
                                placeholder="file path, hub id" + (" or catalog name@version" if dataset_options else ""),
                                **common)
    if f.kind == "text" and isinstance(f.default, str) and (len(f.default) > 60 or "\n" in f.default):
        return widgets.Textarea(value="", rows=4, continuous_update=False, **common)  # e.g. a judge's rubric
    return widgets.Text(value="", continuous_update=False, **common)


class JobForm(widgets.VBox):
    """A training job form built from the `TrainSpec` schema.

    Programmatic use mirrors the clicks: `form.set(max_steps=50, lora={"r": 4})`, `form.spec()` (raises
    `SpecError` and marks the fields), `form.errors`, `form.size()` (fills auto values), `form.submit()` -> Job.
    """

    TITLE = "Fine-tuning job"

    def __init__(self, ws: Any = None, *, job: Any = None, resolved: bool = False, schema: type = TrainSpec,
                 options: dict | None = None, show_chart: bool = True, auto_size: bool = True,
                 on_submit: Callable[[Any], None] | None = None, **fields: Any):
        self.ws = ws or api.workspace()
        self.fields = spec_fields.form_fields(schema, options)
        self.by_path = spec_fields.all_fields(self.fields)
        self.schema = schema
        self.show_chart = show_chart
        self.auto_size = auto_size
        self.on_submit = on_submit
        self.job = None
        self.errors: dict[str, str] = {}
        self.resolved: TrainSpec | None = None
        self.controls: dict[str, _Control] = {}
        self.sections: dict[str, widgets.Widget] = {}
        self.section_errors: dict[str, widgets.HTML] = {}
        self._toggles: dict[str, widgets.Checkbox] = {}
        self._bodies: dict[str, widgets.Box] = {}
        self._quiet = False
        self._size_gen = 0
        self._size_thread: threading.Thread | None = None
        # Errors only sizing finds (a dataset of the wrong kind): {form path: (message, what they were found for)}
        self._late_errors: dict[str, tuple[str, tuple[Any, Any]]] = {}

        main, technique_boxes, advanced = [], [], []
        for f in self.fields:
            w = self._build(f)
            if f.technique:
                technique_boxes.append(w)
            elif f.group == "main":
                main.append(w)
                if f.path == "dataset":
                    main.append(self._dataset_tools())
            else:
                advanced.append(w)
        self.advanced = widgets.Accordion(children=[widgets.VBox(advanced)], titles=("Advanced",), selected_index=None)
        self.submit_button = widgets.Button(description="Submit", button_style="primary", icon="play")
        self.check_button = widgets.Button(description="Check", icon="check",
                                           tooltip="validate and show the auto-sized values without submitting")
        self.submit_button.on_click(lambda _: self._submit_in_background())
        self.check_button.on_click(lambda _: self._check_in_background())
        self.status = widgets.HTML()
        self.output = widgets.VBox()
        title = widgets.HTML(f"<h4 style='margin:4px 0'>{html.escape(self.TITLE)}</h4>")
        super().__init__([title, *main, *technique_boxes, self.advanced,
                          widgets.HBox([self.submit_button, self.check_button]), self.status, self.output])

        values = spec_fields.default_values(self.fields)
        self._load(values)
        if job is not None:
            self.clone_from(job, resolved=resolved)
        if fields:
            self.set(**fields)
        self._show_technique()

    # --- building ------------------------------------------------------------------------------------------
    def _build(self, f: FieldSpec) -> widgets.Widget:
        if f.kind != "section":
            c = _Control(f, _input(f, catalog.entries(self.ws) if f.path == "dataset" else []))
            c.widget.observe(lambda ch, p=f.path: self._changed(p), names="value")
            self.controls[f.path] = c
            return c.row
        self.section_errors[f.path] = widgets.HTML()
        body = widgets.VBox([self.section_errors[f.path]] + [self._build(child) for child in f.children],
                            layout=widgets.Layout(margin="0 0 0 24px"))
        self._bodies[f.path] = body
        if f.technique:
            header = widgets.HTML(f"<b>{html.escape(f.technique)} options</b>"
                                  f" <span style='{HINT_STYLE}'>{html.escape(f.description)}</span>")
            box = widgets.VBox([header, body])
        elif f.optional:
            toggle = widgets.Checkbox(value=True, description=f.name, indent=False,
                                      tooltip=f.description, layout=widgets.Layout(width="auto"))
            toggle.observe(lambda ch, p=f.path: self._section_toggled(p), names="value")
            self._toggles[f.path] = toggle
            hint = widgets.HTML(f"<span style='{HINT_STYLE}'>{html.escape(f.description)}</span>")
            box = widgets.VBox([widgets.HBox([toggle, hint]), body])
        else:
            box = widgets.VBox([widgets.HTML(f"<b>{html.escape(f.name)}</b>"), body])
        self.sections[f.path] = box
        return box

    def _dataset_tools(self) -> widgets.Widget:
        self.preview_button = widgets.Button(description="Preview", icon="table", layout=widgets.Layout(width="110px"),
                                             tooltip="show the first rows of the dataset")
        self.preview_box = widgets.VBox(layout=widgets.Layout(margin="0 0 0 154px"))
        self.preview_button.on_click(lambda _: self.preview_dataset())
        return widgets.VBox([widgets.HBox([widgets.Label("", layout=widgets.Layout(width="150px")), self.preview_button]),
                             self.preview_box])

    def preview_dataset(self) -> widgets.Widget | None:
        """Show the dataset preview beside the form (the catalog's preview when it exists)."""
        ref = str(self.controls["dataset"].get()).strip()
        if not ref:
            self.preview_box.children = [widgets.HTML("<i>choose a dataset first</i>")]
            return None
        w = catalog.preview(ref, self.ws)
        self.preview_box.children = [w]
        return w

    # --- values --------------------------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """Raw values by dotted path (text as typed); sections map to whether they are switched on."""
        out = {p: c.get() for p, c in self.controls.items()}
        out.update({p: t.value for p, t in self._toggles.items()})
        return out

    def _load(self, values: dict[str, Any]) -> None:
        self._quiet = True
        try:
            for path, raw in values.items():
                if path in self.controls:
                    self.controls[path].set(raw)
                elif path in self._toggles:
                    self._toggles[path].value = bool(raw)
        finally:
            self._quiet = False
        for path in self._toggles:
            self._section_toggled(path, resize=False)

    def set(self, **fields: Any) -> JobForm:
        """Fill fields from spec values, e.g. `set(model="./tiny", max_steps=50, lora={"r": 4})`
        (`lora=False` switches LoRA off). Unknown fields raise `SpecError`."""
        unknown = [k for k in fields if k not in self.by_path or "." in k]
        if unknown:
            raise SpecError([(k, "unknown field") for k in unknown])
        if "dataset" in fields and not isinstance(fields["dataset"], str):  # a DataFrame, rows, a Dataset...
            fields["dataset"] = self._catalog_ref(fields["dataset"], fields.get("technique"))
        self._load(spec_fields.spec_values(self.fields, fields, base=self.values))
        self._show_technique()
        self._changed(None)
        return self

    def _catalog_ref(self, data: Any, technique: str | None) -> str:
        """An in-kernel dataset goes into the catalog (the one door); the form then holds its `name@version`."""
        from jupyter_ft.core.datasets import door
        from jupyter_ft.core.datasets.errors import DatasetImportError, DatasetNotFound

        try:
            version, _ = door.pin(self.ws, data, technique or self.values.get("technique") or "sft")
        except (DatasetImportError, DatasetNotFound) as exc:
            raise SpecError([("dataset", str(exc))]) from None
        return version.ref

    def spec_dict(self) -> dict[str, Any]:
        """The spec the form describes, as the user would write it (defaults and auto fields left out)."""
        return spec_fields.to_spec(self.fields, self.values)

    def spec(self, mark: bool = True) -> TrainSpec:
        """Validate; on failure mark every bad field and raise `SpecError`."""
        try:
            spec = parse_spec(self.spec_dict()) if self.schema is TrainSpec else self._parse_other()
        except SpecError as exc:
            if mark:
                self._mark(exc.errors)
            raise
        if mark:
            self._mark([])
        return spec

    def _parse_other(self):
        from pydantic import ValidationError

        from jupyter_ft.core.spec.train import _field_errors

        try:
            return self.schema.model_validate(self.spec_dict())
        except ValidationError as exc:
            raise SpecError(_field_errors(exc)) from None

    def validate(self) -> bool:
        try:
            self.spec()
            return True
        except SpecError:
            return False

    def _mark(self, errors: list[tuple[str, str]], skip_missing: bool = False) -> None:
        found: dict[str, str] = {}
        general: list[str] = []
        for field, message in errors:
            if skip_missing and message in _MISSING:
                continue
            path = spec_fields.locate(field, [*self.controls, *self.sections])
            if path is None:
                general.append(f"{field}: {message}")
            else:
                found[path] = f"{found[path]}; {message}" if path in found else message
        for path, c in self.controls.items():
            c.mark(found.get(path))
        for path, label in self.section_errors.items():  # e.g. a required options block left empty
            msg = found.get(path)
            label.value = f"<span style='{ERROR_STYLE}'>⚠ {html.escape(path)}: {html.escape(msg)}</span>" if msg else ""
        self.errors = found | ({"spec": "; ".join(general)} if general else {})
        if found or general:
            lines = [f"{p}: {m}" for p, m in found.items()] + general
            self._say("error", "Please fix: " + "; ".join(lines))
        elif self.status.value.startswith("<span data-kind='error'"):
            self._say("info", "")

    def _say(self, kind: str, text: str) -> None:
        color = {"error": "#c62828", "ok": "#2e7d32", "info": "#555"}[kind]
        self.status.value = f"<span data-kind='{kind}' style='color:{color}'>{html.escape(text)}</span>" if text else ""

    # --- reactions -----------------------------------------------------------------------------------------
    def _changed(self, path: str | None) -> None:
        if self._quiet:
            return
        if path == "technique":
            self._show_technique()
        self._mark(self._schema_errors() + self._late_still_valid(), skip_missing=True)
        if self.auto_size and (path is None or path in SIZING_INPUTS):
            self._size_in_background()

    def _schema_errors(self) -> list[tuple[str, str]]:
        try:
            self.spec(mark=False)
            return []
        except SpecError as exc:
            return list(exc.errors)

    def _late_key(self, path: str, values: dict[str, Any]) -> tuple[Any, Any]:
        return values.get(path), values.get("technique")

    def _late_still_valid(self) -> list[tuple[str, str]]:
        """Errors sizing found that still hold: their field and the technique have not changed since."""
        values = self.values
        return [(p, msg) for p, (msg, key) in self._late_errors.items() if self._late_key(p, values) == key]

    def _section_toggled(self, path: str, resize: bool = True) -> None:
        self._bodies[path].layout.display = None if self._toggles[path].value else "none"
        if resize:
            self._changed(path)

    def _show_technique(self) -> None:
        if "technique" not in self.controls:  # a schema without techniques (the evaluation form)
            return
        technique = self.controls["technique"].get()
        for f in self.fields:
            if f.technique:
                self.sections[f.path].layout.display = None if f.technique == technique else "none"

    # --- auto-sizing ---------------------------------------------------------------------------------------
    def size(self) -> TrainSpec | None:
        """Show what sizing picks for every field left empty/auto, with why. Returns the sized spec, or None while
        there is no model or the spec is invalid. (Reading the model's config and probing the device can take
        seconds the first time; the form calls this on a background thread.)"""
        return self._show_sizing(*self._sizing())

    def _sizing(self) -> tuple[TrainSpec | None, dict[str, Any], list[tuple[str, str]]]:
        values = self.values
        if not str(values.get("model", "")).strip() or self.schema is not TrainSpec:
            return None, values, []

        def preview(d: dict[str, Any]) -> TrainSpec:
            chosen = d.get("dataset") != spec_fields.NO_DATASET_YET  # without data, size all but the evaluation
            return api.preview(d, self.ws, dataset=chosen)

        resolved, errors = spec_fields.size_valid_part(self.fields, values, preview)
        return resolved, values, errors

    def _show_sizing(self, resolved: TrainSpec | None, values: dict[str, Any],
                     errors: list[tuple[str, str]] = ()) -> TrainSpec | None:
        """Auto hints on every field left empty and valid; errors only sizing found shown on their fields."""
        paths = [*self.controls, *self.sections]
        invalid = {spec_fields.locate(f, paths) for f, _ in errors}
        hints = spec_fields.auto_hints(self.fields, values, resolved) if resolved is not None else {}
        if "grad_accum" in hints and not hints["grad_accum"][1]:
            hints["grad_accum"] = (hints["grad_accum"][0], "see batch_size")
        for path, c in self.controls.items():
            c._describe(None if path in invalid else hints.get(path))
        self.resolved = resolved
        if values == self.values:  # still what the user sees: show what only sizing could tell
            schema = self._schema_errors()
            late = {}
            for field, message in errors:
                path = spec_fields.locate(field, paths)
                if path is not None and (field, message) not in schema and message not in _MISSING:
                    late[path] = (message, self._late_key(path, values))
            self._late_errors = late
            self._mark(schema + self._late_still_valid(), skip_missing=True)
        return resolved

    def _size_in_background(self) -> None:
        self._size_gen += 1
        gen = self._size_gen

        def run():
            try:
                result = self._sizing()
                if gen == self._size_gen:  # a later change started a newer sizing: drop this one
                    self._show_sizing(*result)
            except Exception as exc:  # shown, never raised into a widget callback
                self._say("error", f"auto-sizing failed: {type(exc).__name__}: {exc}")

        self._size_thread = threading.Thread(target=run, name="jupyter_ft-form-size", daemon=True)
        self._size_thread.start()

    def wait_sized(self, timeout: float = 120) -> TrainSpec | None:
        """Wait for background sizing (the latest one, if changes started several) to finish."""
        deadline = time.time() + timeout
        while (t := self._size_thread) is not None and t.is_alive() and time.time() < deadline:
            t.join(max(0.0, deadline - time.time()))
        return self.resolved

    # --- clone, check, submit ------------------------------------------------------------------------------
    def clone_from(self, job: Any, resolved: bool = False) -> JobForm:
        """Fill the form from a job's spec: as submitted (auto values stay auto), or as resolved."""
        rec = (job if isinstance(job, api.Job) else api.Job(str(job), self.ws)).record
        self._load(spec_fields.spec_values(self.fields, rec.spec if resolved else rec.submitted))
        self._show_technique()
        self._changed(None)
        self._say("info", f"filled from job {rec.id}; edit and Submit to launch a new job")
        return self

    def _check_in_background(self) -> None:
        def run():
            try:
                self.spec()
            except SpecError:
                return
            self._say("info", "sizing…")
            sized = self.size()
            self._say("ok", "valid" + (f"; {len(sized.auto)} values auto-sized (see hints)" if sized else ""))

        threading.Thread(target=run, name="jupyter_ft-form-check", daemon=True).start()

    def submit(self) -> Any:
        """Validate, submit, show the live chart below the form; returns the Job. Raises `SpecError` (fields
        marked) when the spec is invalid."""
        self.spec()
        self._say("info", "submitting…")
        try:
            job = api.submit(self.spec_dict(), self.ws)
        except SpecError as exc:
            self._mark(exc.errors)
            raise
        self.job = job
        self._say("ok", f"submitted job {job.id}" + (f" (MLflow run {job.run_id})" if job.run_id else ""))
        if self.show_chart:
            from jupyter_ft.widgets.chart import chart

            self.output.children = [chart(job, ws=self.ws)]
        if self.on_submit:
            self.on_submit(job)
        return job

    def _submit_in_background(self) -> None:
        self.submit_button.disabled = True

        def run():
            try:
                self.submit()
            except SpecError:
                pass
            except Exception as exc:
                self._say("error", f"submit failed: {type(exc).__name__}: {exc}")
            finally:
                self.submit_button.disabled = False

        threading.Thread(target=run, name="jupyter_ft-form-submit", daemon=True).start()

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        try:
            import yaml

            data["text/plain"] = "JobForm\n" + yaml.safe_dump(self.spec_dict(), sort_keys=False)
        except SpecError as exc:
            data["text/plain"] = f"JobForm (invalid: {exc})"
        return data
