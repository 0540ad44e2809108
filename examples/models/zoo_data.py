#!/usr/bin/python3
"""The synthetic data of the model zoo, numpy only: the generators the export scripts train and
test their models on (streamtinynet/make_streamtinynet.py, tinysv/make_tinysv.py,
embbert_q/make_embbert_q.py import them from here) and that tests without torch use to make
realistic inputs (quant_data.py: calibration and evaluation sets for int8; tests/training:
on-device learning tasks). Every function takes its random generator; the same seeds give the
same data as when the committed models were trained (quant_data.py --check-refs verifies it
against the committed reference inputs)."""
import numpy as np


# ---------------------------------------------------------------------------------------------
# StreamTinyNet: moving shapes (video)

MOTIONS_5 = ["left", "right", "up", "down", "still"]
MOTIONS_6 = ["left", "right", "up", "down", "approach", "recede"]


def make_videos(n, T, C, H, W, motions, rng):
    """A square or disc of random colour moves over a noisy, randomly lit background; the class
    is its motion (direction, standing still, growing = approaching, shrinking = receding)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    x = np.empty((n, T, C, H, W), dtype=np.float32)
    y = rng.integers(0, len(motions), n).astype(np.int64)
    for i in range(n):
        m = motions[y[i]]
        size = rng.uniform(0.08, 0.15) * W
        speed = rng.uniform(0.015, 0.05) * W
        disc = rng.random() < 0.5
        bg = rng.uniform(0.0, 0.3, C).astype(np.float32)
        fg = rng.uniform(0.55, 1.0, C).astype(np.float32)
        dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}.get(m, (0, 0))
        cx0, cy0 = rng.uniform(0.35, 0.65) * W, rng.uniform(0.35, 0.65) * H
        # a static distractor square of another colour somewhere else
        ds, dxc, dyc = rng.uniform(0.04, 0.08) * W, rng.uniform(0.1, 0.9) * W, rng.uniform(0.1, 0.9) * H
        dmask = (np.abs(xx - dxc) <= ds) & (np.abs(yy - dyc) <= ds)
        dcol = rng.uniform(0.3, 0.8, C).astype(np.float32)
        for t in range(T):
            tc = t - (T - 1) / 2
            cx, cy = cx0 + dx * speed * tc, cy0 + dy * speed * tc
            s = size
            if m == "approach":
                s = size * (1.0 + 0.06 * t)
            elif m == "recede":
                s = size * (1.0 + 0.06 * (T - 1 - t))
            if disc:
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= s * s
            else:
                mask = (np.abs(xx - cx) <= s) & (np.abs(yy - cy) <= s)
            frame = np.where(dmask[None], dcol[:, None, None], bg[:, None, None])
            frame = np.where(mask[None], fg[:, None, None], frame)
            frame = frame + rng.normal(0, 0.15, (C, H, W)).astype(np.float32)
            x[i, t] = frame
    return x, y


# ---------------------------------------------------------------------------------------------
# TinySV: synthetic speech spectrograms (keywords, speakers)

T_FRAMES, MEL = 49, 40


def dct_matrix(n_out, n_in):
    k = np.arange(n_out)[:, None]
    i = np.arange(n_in)[None, :]
    m = np.cos(np.pi / n_in * (i + 0.5) * k) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)  # orthonormal DCT-II


def random_speaker(rng):
    return dict(formants=np.array([rng.uniform(4, 9), rng.uniform(12, 20), rng.uniform(22, 30)]),
                widths=rng.uniform(1.2, 2.6, 3), amps=rng.uniform(0.5, 1.2, 3),
                ripple=rng.uniform(2.2, 4.5), depth=rng.uniform(0.2, 0.6), tilt=rng.uniform(-0.05, 0.0),
                rate=rng.uniform(0.8, 1.25), breath=rng.uniform(0.0, 0.25))


class Renderer:
    def __init__(self):
        self.f = np.arange(MEL, dtype=np.float64)
        self.t = np.arange(T_FRAMES, dtype=np.float64)

    def spectrum(self, spk, shift, rng):
        f = self.f
        form = spk["formants"] + shift + rng.normal(0, 0.3, 3)
        s = sum(a * np.exp(-(f - c) ** 2 / (2 * w * w)) for a, c, w in zip(spk["amps"], form, spk["widths"]))
        ph = rng.uniform(0, 2 * np.pi)
        s = s * (1 + spk["depth"] * np.cos(2 * np.pi * f / spk["ripple"] + ph)) * np.exp(spk["tilt"] * f)
        return s + spk["breath"] * 0.2

    def envelope(self, onset, dur):
        t = self.t
        return np.clip(np.minimum((t - onset) / 2.0 + 1, (onset + dur - t) / 3.0 + 1), 0, 1)

    def fricative(self, onset, dur, rng):
        env = self.envelope(onset, dur)
        band = np.exp(-(self.f - rng.uniform(30, 36)) ** 2 / (2 * 16.0))
        return np.outer(env, band) * rng.uniform(0.4, 0.8)

    def render(self, events, rng, noise):
        S = np.full((T_FRAMES, MEL), noise) * np.exp(rng.normal(0, 0.3, (T_FRAMES, MEL)))
        for e in events:
            S += e
        return np.log(S + 1e-3)

    def syllable(self, spk, onset, dur, shift, energy, rng, glide=None):
        env = self.envelope(onset, dur * spk["rate"]) * energy
        if glide is None:
            return np.outer(env, self.spectrum(spk, shift, rng))
        # formant glide over the syllable
        out = np.zeros((T_FRAMES, MEL))
        for t in np.nonzero(env > 0)[0]:
            a = np.clip((t - onset) / max(dur, 1), 0, 1)
            out[t] = env[t] * self.spectrum(spk, shift + a * glide, rng)
        return out


def random_word(R, spk, rng, start, syllables):
    ev, t = [], start
    for _ in range(syllables):
        if rng.random() < 0.4:
            d = rng.uniform(3, 6)
            ev.append(R.fricative(t, d, rng))
            t += d
        d = rng.uniform(6, 12)
        shift = np.array([rng.uniform(-3, 3), rng.uniform(-4, 4), rng.uniform(-2, 2)])
        glide = np.array([0, rng.uniform(-4, 4), 0]) if rng.random() < 0.3 else None
        ev.append(R.syllable(spk, t, d, shift, rng.uniform(0.6, 1.4), rng, glide))
        t += d * spk["rate"] + rng.uniform(0, 3)
    return ev


def keyword(R, spk, rng, start):
    """'sheila': fricative 'sh', 'ee' (low F1, high F2), 'la' with a falling F2."""
    ev = [R.fricative(start, rng.uniform(4, 6), rng)]
    t = start + 5
    ev.append(R.syllable(spk, t, rng.uniform(8, 10), np.array([-2.5, 4.0, 1.0]), rng.uniform(0.8, 1.3), rng))
    t += 9 * spk["rate"]
    ev.append(R.syllable(spk, t, rng.uniform(9, 12), np.array([2.5, 1.0, 0.0]), rng.uniform(0.8, 1.3), rng,
                         glide=np.array([0.0, -5.0, 0.0])))
    return ev


def make_kws(n, rng, R):
    y = rng.integers(0, 3, n).astype(np.int64)
    x = np.empty((n, T_FRAMES, MEL), dtype=np.float32)
    for i in range(n):
        spk = random_speaker(rng)
        noise = rng.uniform(0.005, 0.08)
        if y[i] == 0:
            ev = [R.fricative(rng.uniform(0, 40), rng.uniform(2, 8), rng) * 0.3] if rng.random() < 0.5 else []
        elif y[i] == 1:
            if rng.random() < 0.3:  # confusable: a part of the keyword only ('shee', 'la', ...)
                kw = keyword(R, spk, rng, rng.uniform(0, 14))
                keep = [[0, 1], [2], [1, 2], [0, 2]][int(rng.integers(4))]
                ev = [kw[k] for k in keep]
            else:
                ev = random_word(R, spk, rng, rng.uniform(0, 15), int(rng.integers(1, 4)))
        else:
            ev = keyword(R, spk, rng, rng.uniform(0, 14))
        x[i] = R.render(ev, rng, noise)
    return x, y


def make_speech(speakers, per_speaker, rng, R):
    x = np.empty((len(speakers) * per_speaker, T_FRAMES, MEL), dtype=np.float32)
    y = np.repeat(np.arange(len(speakers)), per_speaker).astype(np.int64)
    for i, s in enumerate(y):
        spk = speakers[s]
        ev = random_word(R, spk, rng, rng.uniform(0, 6), int(rng.integers(2, 5)))
        x[i] = R.render(ev, rng, rng.uniform(0.002, 0.02))
    return x, y


def to_mfcc(logmel, n_coeff, stats=None):
    """log-mel [N, 49, 40] -> normalised MFCC [N, 1, 49, n_coeff] (DCT-II, per-coefficient
    standardisation with statistics of the training set)."""
    m = logmel @ dct_matrix(n_coeff, MEL).T
    if stats is None:
        stats = (m.mean(axis=(0, 1)), m.std(axis=(0, 1)) + 1e-6)
    return ((m - stats[0]) / stats[1]).astype(np.float32)[:, None], stats


# ---------------------------------------------------------------------------------------------
# EmbBERT-Q: synthetic token sequences (topics)

PAD, UNK, CLS, MASK, SEP = 0, 1, 2, 3, 4
FIRST_WORD = 5


def make_texts(n, cfg, rng):
    """Topic classification. Each topic owns a set of keyword ids; a sequence is [CLS] + filler
    words (Zipf-distributed over the rest of the vocabulary) with keywords sprinkled in (8-25 %
    of the tokens), 50-80 % of them from its topic and the rest distractors from the other
    topics; half the sequences are two
    "sentences" joined by the separator token 4; right padding with 0. Label = the topic with
    the most keywords."""
    V, L, topics, kw = cfg["vocab"], cfg["max_len"], cfg["labels"], cfg["keywords"]
    keywords = FIRST_WORD + np.arange(topics * kw).reshape(topics, kw)
    filler_lo = FIRST_WORD + topics * kw
    ranks = np.arange(1, V - filler_lo + 1, dtype=np.float64)
    zipf = 1.0 / ranks ** 1.1
    zipf /= zipf.sum()
    ids = np.zeros((n, L), dtype=np.int64)
    mask = np.zeros((n, L), dtype=np.int64)
    y = rng.integers(0, topics, n).astype(np.int64)
    for i in range(n):
        # log-uniform lengths: many short sequences, some filling the whole window
        length = int(np.exp(rng.uniform(np.log(cfg["min_len"]), np.log(L + 1))))
        seq = filler_lo + rng.choice(len(zipf), size=length, p=zipf)
        seq[0] = CLS
        n_kw = max(2, int(round(length * rng.uniform(0.08, 0.25))))
        n_main = max(2, int(round(n_kw * rng.uniform(0.5, 0.8))))
        n_other = min(n_kw - n_main, n_main - 1)
        words = [keywords[y[i], rng.integers(kw)] for _ in range(n_main)]
        others = [t for t in range(topics) if t != y[i]]
        words += [keywords[rng.choice(others), rng.integers(kw)] for _ in range(n_other)]
        pos = rng.choice(np.arange(1, length), size=len(words), replace=False)
        seq[pos] = words
        free = np.setdiff1d(np.arange(2, length - 1), pos)
        if rng.random() < 0.5 and len(free) > 0:
            seq[rng.choice(free)] = SEP
        ids[i, :length] = seq
        mask[i, :length] = 1
    return ids, mask, y
