"""Colab's output helpers, as harmless no-ops."""


def clear(wait=False, output_tags=()):
    pass


def enable_custom_widget_manager():
    pass


def disable_custom_widget_manager():
    pass


def eval_js(script, ignore_result=False, timeout_sec=None):
    return None
