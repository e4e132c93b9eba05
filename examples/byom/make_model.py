"""Make a Keras model the way you would outside tinyops: two branches, batch size unset.

Usage: python examples/byom/make_model.py DATA_CSV OUT.keras
Trains on the digits CSV that examples/digits/prepare.py writes (columns p0..p63, label).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(csv_path: str, out: str) -> None:
    import numpy as np
    import keras

    data = np.genfromtxt(csv_path, delimiter=",", skip_header=1, dtype=np.float32)
    X, y = data[:, :-1], data[:, -1].astype(int)
    keras.utils.set_random_seed(0)
    inp = keras.Input((X.shape[1],))
    x = inp
    wide = keras.layers.Dense(16, activation="relu")(x)
    deep = keras.layers.Dense(8, activation="relu")(keras.layers.Dense(16, activation="relu")(x))
    out_t = keras.layers.Dense(10, activation="softmax")(keras.layers.Concatenate()([wide, deep]))
    model = keras.Model(inp, out_t)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, y, epochs=15, batch_size=16, verbose=0)
    model.save(out)
    print(f"saved {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: python {sys.argv[0]} DATA_CSV OUT.keras")
    main(sys.argv[1], sys.argv[2])
