"""fitscope: see and measure why neural networks train or fail, underfit or overfit."""

__version__ = "0.1.0"
