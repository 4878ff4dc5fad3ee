"""Automatic capture: console streams, argparse, matplotlib and TensorBoard writers."""
