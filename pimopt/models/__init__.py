"""Where networks come from: ONNX import of trained models (:mod:`.onnx_import`) and the
generators of tiny, synthetic and real-shaped benchmark networks (:mod:`.generate`)."""
