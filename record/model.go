package record

import "log/slog"

// LogModel is implemented by log models: types whose values, passed as
// attribute values in an ordinary slog call, are pulled out of the record
// and have their fields (by JSON name) merged into the published log
// event, as kafkaesk's PydanticLogRecord does with pydantic models marked
// _is_log_model. A type becomes a log model by embedding [Model]:
//
//	type UserLog struct {
//		record.Model
//		User string `json:"user"`
//	}
//
//	logger.Info("signed in", "user", UserLog{User: "ana"})
//
// The attribute's key is not used; handlers that do not know log models
// (slog.JSONHandler, for one) log the value as an ordinary attribute.
type LogModel interface{ isLogModel() }

// Model, embedded in a struct, marks it as a [LogModel]. It has no fields
// and adds nothing to the struct's JSON.
type Model struct{}

func (Model) isLogModel() {}

// AsLogModel returns the log model held by v, if v holds one: directly, or
// through a slog.LogValuer that resolves to one.
func AsLogModel(v slog.Value) (LogModel, bool) {
	v = v.Resolve()
	if v.Kind() != slog.KindAny {
		return nil, false
	}
	m, ok := v.Any().(LogModel)
	return m, ok
}
