"""XGBoost, saved in XGBoost's own JSON model format (embedded in the predictor file)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from hwnas.predictors.families.base import Family


class XGBoost(Family):
    """xgboost.XGBRegressor (hist trees); predictions through Booster.inplace_predict."""

    name = "xgboost"

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        import xgboost as xgb

        m = xgb.XGBRegressor(
            n_estimators=400,
            max_depth=3,
            learning_rate=0.05,
            subsample=0.8,
            colsample_bytree=0.8,
            random_state=self.seed,
            n_jobs=1,
        )  # threads only add overhead on trees this small
        self.booster_ = m.fit(X, t).get_booster()

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster_.inplace_predict(X), dtype=np.float64)

    def _state(self) -> dict[str, Any]:
        return {"xgboost_json": json.loads(bytes(self.booster_.save_raw("json")))}

    def _set_state(self, state: dict[str, Any]) -> None:
        import xgboost as xgb

        self.booster_ = xgb.Booster()
        self.booster_.load_model(bytearray(json.dumps(state["xgboost_json"]).encode()))
        self.booster_.set_param({"nthread": 1})
