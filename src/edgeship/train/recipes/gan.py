"""DCGAN (Radford et al., 2015) for small images such as the 8x8 digits.

The generator is the deployable model: input ``latent`` (standard-normal noise of size
``latent_dim``), output ``image`` in ``[0, 1]`` (the dataset's model-input space). The
discriminator and the adversarial training step stay in training.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import layers

from edgeship.errors import InvalidInputError

DEFAULT_LEARNING_RATE = 2e-4
INPUT_KINDS = ("image",)
MIN_IMAGE_SIZE = 8


def build_generator(latent_dim: int, image_shape: tuple[int, ...]) -> keras.Model:
    """Dense -> 2x (Conv2DTranspose stride 2) -> sigmoid image of ``image_shape``."""
    height, width, channels = image_shape
    if height % 4 or width % 4:
        raise InvalidInputError(
            f"The gan recipe needs image sides divisible by 4. Got {height}x{width}."
        )
    inputs = keras.Input(shape=(latent_dim,), name="latent", dtype="float32")
    x = layers.Dense((height // 4) * (width // 4) * 128, use_bias=False, name="project")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((height // 4, width // 4, 128))(x)
    x = layers.Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False, name="up1")(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", name="up2")(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name="image")(x)
    return keras.Model(inputs, outputs, name="generator")


def build_discriminator(image_shape: tuple[int, ...]) -> keras.Model:
    """Two strided convolutions with LeakyReLU and dropout -> one float32 logit."""
    inputs = keras.Input(shape=image_shape, name="image", dtype="float32")
    x = layers.Conv2D(64, 3, strides=2, padding="same")(inputs)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(128, 3, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(1, dtype="float32", name="real_logit")(x)
    return keras.Model(inputs, outputs, name="discriminator")


class DCGAN(keras.Model):
    """Generator + discriminator trained adversarially by ``fit`` (one step each per batch)."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, seed: int = 0):
        super().__init__(name="dcgan")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer: Any, g_optimizer: Any, **kwargs: Any) -> None:
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def metrics(self) -> list[Any]:
        return [self.d_loss_tracker, self.g_loss_tracker]

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.generator(inputs, training=training)

    def train_step(self, data: Any) -> dict[str, Any]:
        real = data[0] if isinstance(data, tuple) else data
        batch = tf.shape(real)[0]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        noise = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(noise, training=True)
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = self.bce(tf.ones_like(real_logits), real_logits) + self.bce(
                tf.zeros_like(fake_logits), fake_logits
            )
            scaled = self.d_optimizer.scale_loss(d_loss / replicas)
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply(tape.gradient(scaled, weights), weights)

        noise = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(noise, training=True), training=True)
            g_loss = self.bce(tf.ones_like(fake_logits), fake_logits)
            scaled = self.g_optimizer.scale_loss(g_loss / replicas)
        weights = self.generator.trainable_weights
        self.g_optimizer.apply(tape.gradient(scaled, weights), weights)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def build(input_shape: tuple[int, ...], num_classes: int, config: Any = None) -> DCGAN:
    """Build the (uncompiled) DCGAN for images of ``input_shape``; classes are ignored."""
    latent_dim = int(getattr(config, "latent_dim", 32))
    seed = int(getattr(config, "seed", 0))
    return DCGAN(build_generator(latent_dim, input_shape), build_discriminator(input_shape), seed)
