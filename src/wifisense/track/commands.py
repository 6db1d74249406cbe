"""``wifisense track pretrain-cae|train|eval|predict|compare|tune``: the NDF tracking pipeline on the command line."""

from __future__ import annotations

import logging
from pathlib import Path

from wifisense.options import add_device_option, add_logger_option, add_old_spelling

log = logging.getLogger(__name__)

CLI_MODELS = ("ndf", "ddnd", "linear-int", "nearest-int", "rnn-decay", "rnn-dt")


def register(sub) -> None:
    p = sub.add_parser(
        "track", help="track a moving device from 5 GHz CSI and 60 GHz beam SNR (Neural Dynamic Fusion)",
        description="Continuous-time 2-D tracking from asynchronous multi-band streams: pretrain the CSI "
        "autoencoder, train NDF or a baseline on windows of a multi-band store, evaluate on the held-out "
        "split, predict a trajectory from a new capture.")
    cmds = p.add_subparsers(dest="track_command", metavar="STEP", required=True)

    c = cmds.add_parser("pretrain-cae", help="pretrain the CSI frame autoencoder on a store",
                        description="Pretrain the 1-D convolutional CSI autoencoder on every calibrated CSI "
                        "frame of a multi-band store; writes RUN/cae (reused by every model under RUN).")
    c.add_argument("--data", required=True, help="multi-band store (.h5)")
    c.add_argument("--run", required=True, help="run tree; the CAE goes to RUN/cae")
    c.add_argument("--preset", default="tiny", help="track preset (tiny, paper) or a JSON config path")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config field, e.g. cae.embed_dim=16 (repeatable)")
    c.add_argument("--epochs", type=int, default=5)
    c.add_argument("--batch-size", type=int, default=256)
    c.add_argument("--seed", type=int, default=0)
    add_device_option(c)
    c.set_defaults(func=run_pretrain_cae)

    t = cmds.add_parser("train", help="train NDF or a baseline on windows of a store",
                        description="Train a track model with Adamax + OneCycle; keeps the best weights on "
                        "validation mean error. Pretrains the CAE into RUN/cae first when the CSI band is "
                        "used and none is found (--cae, RUN/cae or RUN/../cae).")
    t.add_argument("--data", required=True, help="multi-band store (.h5)")
    t.add_argument("--model", default="ndf", choices=CLI_MODELS)
    t.add_argument("--bands", default="csi,snr", help="csi, snr or csi,snr")
    t.add_argument("--fusion", default="mlp", choices=("mlp", "pairwise", "weighted"))
    t.add_argument("--split", default="random",
                   help="random (8:1:1 windows), temporal:P (first fraction P trains), "
                   "coordinate:X0,Y0,X1,Y1 (windows touching that area are the test set) or store (the "
                   "store's own /splits, e.g. a public data set's reference and test recordings)")
    t.add_argument("--window", type=float, default=5.0, help="window length in seconds")
    t.add_argument("--step", type=float, default=None,
                   help="step between training windows in seconds, any split (default: the window, i.e. "
                   "back-to-back windows as in the NDF paper; a smaller step adds overlapping training "
                   "windows, cut inside the training part only; validation/test windows never overlap)")
    t.add_argument("--query-hz", type=float, default=10.0, help="query points per second inside a window")
    t.add_argument("--run", required=True, help="run directory for this model")
    t.add_argument("--cae", default=None, help="pretrained CAE directory (default: RUN/cae or RUN/../cae)")
    t.add_argument("--preset", default="tiny", help="track preset (tiny, paper) or a JSON config path")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config field, e.g. model.ode_hidden_dim=8 (repeatable)")
    t.add_argument("--epochs", type=int, default=None, help="default: the preset's optim.epochs")
    t.add_argument("--batch-size", type=int, default=None, help="default: the preset's optim.batch_size")
    t.add_argument("--seed", type=int, default=0)
    add_device_option(t)
    t.add_argument("--no-eval", action="store_true", help="do not evaluate on the test split after training")
    t.add_argument("--restart", action="store_true",
                   help="train from scratch even if RUN holds an interrupted or finished run of this setting "
                   "(default: an interrupted run resumes exactly, a finished one is kept)")
    add_logger_option(t)
    t.set_defaults(func=run_train)

    e = cmds.add_parser("eval", help="evaluate a trained run on its test split",
                        description="Mean / median / 90th-percentile error in metres on the run's test "
                        "split; writes RUN/metrics.json, predictions and CDF CSVs and figures.")
    e.add_argument("--run", required=True, help="a run directory made by `wifisense track train`")
    e.add_argument("--split", default="test", choices=("train", "val", "test"))
    add_device_option(e)
    e.add_argument("--no-figures", action="store_true")
    e.add_argument("--tsne", action="store_true",
                   help="also draw a t-SNE of the latent states coloured by room region (RUN/tsne_latent_SPLIT.png)")
    e.add_argument("--tsne-grid", default="2,2", metavar="NX,NY",
                   help="room grid for the t-SNE colours: columns along x, rows along y (default 2,2)")
    e.set_defaults(func=run_eval)

    r = cmds.add_parser("predict", help="predict a trajectory from a CSI capture and a beam-SNR log",
                        description="Predict a trajectory from a new CSI capture (any format read_csi reads) "
                        "and a beam-SNR CSV on the same clock; writes a CSV (t, x, y) and a plot.")
    r.add_argument("--run", required=True, help="a run directory made by `wifisense track train`")
    r.add_argument("--csi", default=None, help="CSI capture file (needed when the run uses the csi band)")
    fmt = r.add_argument("--format", dest="csi_format", default="auto",
                         help="format of the CSI capture (default: auto: detected from the content)")
    add_old_spelling(r, fmt, "--csi-format")
    r.add_argument("--strict", action="store_true",
                   help="a capture record that cannot be read is an error (default: skipped, counted)")
    r.add_argument("--snr", default=None, help="beam-SNR CSV (needed when the run uses the snr band)")
    r.add_argument("--snr-offset", type=float, default=0.0, metavar="SECONDS",
                   help="added to the beam-SNR timestamps, for an SNR log on a different clock than the CSI")
    r.add_argument("--out", default=None, metavar="CSV", help="trajectory CSV (default: RUN/trajectory.csv)")
    r.add_argument("--no-plot", action="store_true")
    add_device_option(r)
    r.set_defaults(func=run_predict)

    m = cmds.add_parser("compare", help="reproduce the paper's tables (methods x bands, windows, fusions, splits)",
                        description="Train and evaluate every run of the NDF paper's Table I (each method x CSI / "
                        "beam SNR / both), Table II (windows 2, 5, 8 s), Table III (fusions), Table IV (temporal "
                        "ratios 0.2-0.8) and the coordinate split on one store, each with a 'training mean' reference row, "
                        "for every seed; one CAE per seed is shared. Writes OUT/results.csv and results.json (per "
                        "seed and mean over seeds with 95 % intervals), OUT/compare.md and OUT/figures/. Rerunning "
                        "skips finished runs; more seeds can be added later into the same OUT.")
    m.add_argument("--data", required=True, help="multi-band store (.h5)")
    m.add_argument("--tables", default="I,II,III,IV,coordinate", help="comma list of I, II, III, IV, coordinate")
    m.add_argument("--methods", default=None,
                   help=f"comma list of Table I / coordinate methods (default: all of {','.join(CLI_MODELS)})")
    m.add_argument("--bands", default=None, metavar="SET,SET,...",
                   help="Table I's band sets: comma list of csi, snr, csi+snr, e.g. csi,snr for the single-band "
                   "rows only (default: every set the store carries)")
    m.add_argument("--out", default="runs/track_compare", metavar="DIR", help="output directory")
    m.add_argument("--preset", default="tiny", help="track preset (tiny, paper) or a JSON config path")
    m.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config field in every run (repeatable)")
    m.add_argument("--epochs", type=int, default=None, help="default: the preset's optim.epochs")
    m.add_argument("--cae-epochs", type=int, default=5, help="epochs of the shared CAE pretraining")
    m.add_argument("--seed", type=int, default=0, help="one seed (default: %(default)s); see --seeds")
    m.add_argument("--seeds", default=None, metavar="S,S,...",
                   help="seeds to train every run with, e.g. 0,1,2 or 0-4 (overrides --seed); tables show the "
                   "mean over seeds with a 95%% Student t interval")
    m.add_argument("--region", default=None, metavar="X0,Y0,X1,Y1",
                   help="held-out area of the coordinate split (default: a corner of the driven area "
                   "holding out about 20%% of the windows)")
    m.add_argument("--split", default="random",
                   help="split of Table I and its reference row: random (the paper's, default), temporal:P, "
                   "coordinate:X0,Y0,X1,Y1 or store (the store's own /splits, e.g. a public data set's "
                   "reference and test recordings)")
    add_device_option(m)
    m.set_defaults(func=run_compare)

    u = cmds.add_parser("tune", help="search the ELBO loss weights with Optuna (pruned trials)",
                        description="Optuna search over the loss weights (coord fixed at 1; reconstruction and "
                        "KL weights per band on log scales) minimising the validation mean error; unpromising "
                        "trials are pruned (median rule) on their per-epoch validation error. Writes the best "
                        "weights into a full track config usable as `track train --preset OUT`.")
    u.add_argument("--data", required=True, help="multi-band store (.h5)")
    u.add_argument("--trials", type=int, default=20)
    u.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the preset's optim.epochs)")
    u.add_argument("--model", default="ndf", choices=CLI_MODELS)
    u.add_argument("--bands", default="csi,snr", help="csi, snr or csi,snr")
    u.add_argument("--fusion", default="mlp", choices=("mlp", "pairwise", "weighted"))
    u.add_argument("--split", default="random", help="as for `track train`")
    u.add_argument("--window", type=float, default=5.0, help="window length in seconds")
    u.add_argument("--out", default="tuned_track.json", metavar="JSON", help="config JSON to write (a summary goes next to it)")
    u.add_argument("--storage", default=None,
                   help="Optuna storage to keep/resume the study: a sqlite:///FILE URL or a .db path")
    u.add_argument("--study-name", default=None, help="study name inside --storage (default: from the settings)")
    u.add_argument("--cae", default=None, help="pretrained CAE directory (default: OUTDIR/cae, pretrained if absent)")
    u.add_argument("--preset", default="tiny", help="track preset (tiny, paper) or a JSON config path")
    u.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config field (repeatable)")
    u.add_argument("--seed", type=int, default=0)
    add_device_option(u)
    u.set_defaults(func=run_tune)


def run_pretrain_cae(args) -> int:
    from wifisense.track.train import pretrain_cae

    cae_dir = pretrain_cae(args.data, args.run, preset=args.preset, overrides=args.overrides, epochs=args.epochs,
                           batch_size=args.batch_size, seed=args.seed, device=args.device,
                           quiet=getattr(args, "quiet", False))
    print(f"pretrained CAE: {cae_dir}")
    return 0


def run_train(args) -> int:
    from wifisense.track.train import train_model

    summary = train_model(args.data, args.model, bands=args.bands, fusion=args.fusion, split=args.split,
                          window=args.window, run_dir=args.run, preset=args.preset, overrides=args.overrides,
                          epochs=args.epochs, seed=args.seed, device=args.device, cae=args.cae, step=args.step,
                          query_hz=args.query_hz, batch_size=args.batch_size, quiet=getattr(args, "quiet", False),
                          restart=args.restart, logger=args.logger)
    best = summary["best"]
    print(f"trained {args.model} ({args.bands}) in {summary['train_seconds']:.1f} s: best {best['metric']} "
          f"{best['value']:.3f} at step {best['step']} -> {args.run}")
    if not args.no_eval:
        return run_eval(argparse_namespace(run=args.run, split="test", device=args.device, no_figures=False))
    return 0


def argparse_namespace(**values):
    import argparse

    return argparse.Namespace(**values)


def run_eval(args) -> int:
    from wifisense.track.evaluate import evaluate_run

    summary = evaluate_run(args.run, split=args.split, device=args.device, figures=not args.no_figures)
    print(f"{args.split} error over {summary['n']} query points: mean {summary['mean']:.3f} m, "
          f"median {summary['median']:.3f} m, p90 {summary['p90']:.3f} m; per window: centroid "
          f"{summary['centroid_mean']:.3f} m (where it is), shape {summary['shape_mean']:.3f} m (how it moves) "
          f"-> {Path(args.run) / 'metrics.json'}")
    if getattr(args, "tsne", False):
        from wifisense.track.evaluate import plot_latent_tsne

        path = plot_latent_tsne(args.run, splits=(args.split,), grid=_parse_grid(args.tsne_grid), device=args.device)
        print(f"t-SNE of latent states -> {path}")
    return 0


def _parse_grid(text: str) -> tuple[int, int]:
    from wifisense.errors import ConfigError

    try:
        nx, ny = (int(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(f"--tsne-grid needs two integers NX,NY, got {text!r}") from None
    if nx < 1 or ny < 1:
        raise ConfigError(f"--tsne-grid {text!r}: both counts must be >= 1")
    return nx, ny


def run_compare(args) -> int:
    from wifisense.track.compare import run_compare as compare

    summary = compare(args.data, args.out, tables=args.tables, methods=args.methods, preset=args.preset,
                      epochs=args.epochs, seed=args.seed, seeds=args.seeds, overrides=args.overrides or None,
                      device=args.device, quiet=getattr(args, "quiet", False), region=args.region,
                      cae_epochs=args.cae_epochs, split=getattr(args, "split", "random"),
                      bands=getattr(args, "bands", None))
    out = Path(args.out)
    print((out / "compare.md").read_text(), end="")
    print(f"{len(summary['tables'])} table(s), seeds {','.join(map(str, summary['seeds']))}, "
          f"{summary['wall_s']:.0f} s -> {out / 'results.csv'}, {out / 'compare.md'}")
    return 0


def run_tune(args) -> int:
    from wifisense.track.tune import tune_loss_weights

    result = tune_loss_weights(args.data, out=args.out, trials=args.trials, epochs=args.epochs, model=args.model,
                               bands=args.bands, fusion=args.fusion, split=args.split, window=args.window,
                               preset=args.preset, overrides=args.overrides or None, seed=args.seed,
                               device=args.device, storage=args.storage, study_name=args.study_name,
                               cae=args.cae, quiet=getattr(args, "quiet", False))
    weights = ", ".join(f"{k}={v:.3g}" for k, v in result["best_weights"].items())
    print(f"{result['trials']['complete']} complete / {result['trials']['pruned']} pruned trials; best validation "
          f"error {result['best_value']:.3f} m with {weights} -> {result['config']}")
    return 0


def run_predict(args) -> int:
    import numpy as np

    from wifisense.io import read_csi
    from wifisense.io.logs import read_beam_snr_csv
    from wifisense.track.pretrained import predict_trajectory

    recording = read_csi(args.csi, format=args.csi_format, strict=args.strict) if args.csi else None
    snr_log = read_beam_snr_csv(args.snr) if args.snr else None
    if snr_log is not None and args.snr_offset:
        snr_log.t = snr_log.t + args.snr_offset    # onto the CSI clock
    t, xy = predict_trajectory(args.run, recording, snr_log, device=args.device, csi_path=args.csi or "",
                               snr_path=args.snr or "")
    out = Path(args.out) if args.out else Path(args.run) / "trajectory.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(out, np.column_stack([t, xy]), delimiter=",", header="t,x,y", comments="", fmt="%.4f")
    print(f"predicted {len(t)} positions over {t[-1] - t[0]:.1f} s -> {out}")
    if not args.no_plot:
        _plot_trajectory(args.run, xy, out.with_suffix(".png"))
    return 0


def _plot_trajectory(run_dir, xy, path: Path) -> None:
    """The predicted path inside the training room (no ground truth, so not report.figures' overlay)."""
    # A Figure object renders with the Agg canvas itself: no pyplot, no process-wide backend switch.
    from matplotlib.figure import Figure

    from wifisense.track.train import read_task

    room = read_task(run_dir).get("room")
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    if room is not None:
        x0, y0, x1, y1 = room
        ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="0.5", linewidth=1)
    ax.plot(xy[:, 0], xy[:, 1], linewidth=1.2, label="predicted")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="upper right")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print(f"plot -> {path}")
