package stages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	Path  string
	Row   schemas.Predictor
	Model predictor.Model
	Enc   *predictor.Encoder
}

// Predict returns the predicted accuracy of a (higher is better), or the
// error that kept a from being encoded (an arch of another space).
func (p *LoadedPredictor) Predict(a space.Arch) (float64, error) {
	f, err := p.Enc.Encode(a)
	if err != nil {
		return 0, fmt.Errorf("predictor %s cannot score arch %v: %w", p.Path, a, err)
	}
	return p.Model.Predict(f), nil
}

// ID identifies the predictor's selected model: a hash of its bytes.
func (p *LoadedPredictor) ID() string {
	h := sha256.Sum256(p.Row.Model)
	return hex.EncodeToString(h[:8])
}

// predictorEstimator scores attentive candidates with a predictor,
// surfacing encode errors (sampler.Estimator).
type predictorEstimator struct{ p *LoadedPredictor }

func (e predictorEstimator) Name() string         { return sampler.EstimatorPredictor }
func (e predictorEstimator) HigherIsBetter() bool { return true }
func (e predictorEstimator) Estimate(archs []space.Arch) ([]float64, error) {
	if e.p == nil {
		return nil, sampler.ErrNoPredictor
	}
	out := make([]float64, len(archs))
	for i, a := range archs {
		v, err := e.p.Predict(a)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// LoadPredictor reads the selected model of a predictors/<run>.parquet
// file, through its committed set (predictor and rank quality, see
// PredictorSet), and checks that it was fitted on archs of sp.
func LoadPredictor(ctx context.Context, path string, sp *space.Space) (*LoadedPredictor, error) {
	if path == "" {
		return nil, fmt.Errorf("no predictor file given (the predictor estimator needs predictors/<run>.parquet from an earlier evaluate + search run): %w", sampler.ErrNoPredictor)
	}
	read, err := predictorFile(ctx, path)
	if err != nil {
		return nil, err
	}
	rows, _, err := pqio.ReadFile[schemas.Predictor](ctx, read)
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
		return &LoadedPredictor{Path: path, Row: r, Model: m, Enc: enc}, nil
	}
	return nil, fmt.Errorf("%s: no selected predictor row", path)
}
