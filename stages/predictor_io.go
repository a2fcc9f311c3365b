package stages

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/attentivenas/attentivenas/nas/predictor"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// LoadedPredictor is a run's selected accuracy predictor, ready to score
// archs of its space.
type LoadedPredictor struct {
	Row   schemas.Predictor
	Model predictor.Model
	Enc   *predictor.Encoder
}

// Predict returns the predicted accuracy of a (higher is better).
func (p *LoadedPredictor) Predict(a space.Arch) float64 {
	f, err := p.Enc.Encode(a)
	if err != nil {
		return 0
	}
	return p.Model.Predict(f)
}

// LoadPredictor reads the selected model of a predictors/<run>.parquet
// file and checks that it was fitted on archs of sp.
func LoadPredictor(ctx context.Context, path string, sp *space.Space) (*LoadedPredictor, error) {
	if path == "" {
		return nil, fmt.Errorf("no predictor file given (the predictor estimator needs predictors/<run>.parquet from an earlier evaluate + predictor run): %w", sampler.ErrNoPredictor)
	}
	rows, _, err := pqio.ReadFile[schemas.Predictor](ctx, path)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if !r.Selected {
			continue
		}
		if r.SpaceFingerprint != sp.Fingerprint() {
			return nil, fmt.Errorf("%s: predictor was fitted on search space %s, not %s (%q)", path, r.SpaceFingerprint, sp.Fingerprint(), sp.Name)
		}
		var opt predictor.EncoderOptions
		if err := json.Unmarshal([]byte(r.Encoder), &opt); err != nil {
			return nil, fmt.Errorf("%s: encoder options: %w", path, err)
		}
		enc, err := predictor.NewEncoder(sp, opt)
		if err != nil {
			return nil, err
		}
		m, err := predictor.Unmarshal(r.Model)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if m.NumFeatures() != enc.NumFeatures() {
			return nil, fmt.Errorf("%s: model takes %d features, the encoder makes %d", path, m.NumFeatures(), enc.NumFeatures())
		}
		return &LoadedPredictor{Row: r, Model: m, Enc: enc}, nil
	}
	return nil, fmt.Errorf("%s: no selected predictor row", path)
}

func loadPredictorEstimator(ctx context.Context, path string, sp *space.Space) (sampler.Estimator, error) {
	p, err := LoadPredictor(ctx, path, sp)
	if err != nil {
		return nil, err
	}
	return sampler.NewPredictorEstimator(p.Predict)
}
