"""Model outputs on live text: probing free text and token attributions.

Unlike the rest of the app, these compute model outputs on request. Importing this package is
cheap (no torch); torch and transformers are imported on first use, so the analysis pages never
load them. The model is loaded once per process (``model.live_model``) and inference runs under
its lock with a bounded number of torch threads.
"""

from explainer.inference.model import LiveModel, LiveSettings, live_model, model_id_for

__all__ = ["LiveModel", "LiveSettings", "live_model", "model_id_for"]
