// Package beamreg registers reflection-free callers for the methods of
// structural DoFns, one function signature at a time.
//
// Beam's register.DoFnNxM does the same job but instantiates every
// StartBundle/FinishBundle signature its type parameters could form:
// thousands of functions per call, which made the stages package take
// minutes and ~10 GB of memory to compile. Here each call instantiates one
// small caller for the signature actually used, inferred from a method
// expression:
//
//	beam.RegisterType(reflect.TypeFor[myFn]())
//	beamreg.Method1x1((*myFn).Setup)
//	beamreg.Method3x1((*myFn).ProcessElement)
//
// Beam finds the caller by the method's type (reflectx.MakeFunc), so the
// SDK's vet runner reports the DoFn as performant; a method left out shows
// up there as a missing shim.
package beamreg

import (
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
)

func add[F any](wrap func(F) reflectx.Func) {
	reflectx.RegisterFunc(reflect.TypeFor[F](), func(fn any) reflectx.Func { return wrap(fn.(F)) })
}

type base[F any] struct{ fn F }

func (c *base[F]) Name() string       { return reflectx.FunctionName(c.fn) }
func (c *base[F]) Type() reflect.Type { return reflect.TypeOf(c.fn) }

type call0x1[R any] struct{ base[func() R] }

func (c *call0x1[R]) Call(a []any) []any { return []any{c.fn()} }
func (c *call0x1[R]) Call0x1() any       { return c.fn() }

// Method0x1 registers the caller for func() R, given a method expression of
// that shape.
func Method0x1[T, R any](func(T) R) {
	add(func(f func() R) reflectx.Func { return &call0x1[R]{base[func() R]{f}} })
}

type call1x1[A, R any] struct{ base[func(A) R] }

func (c *call1x1[A, R]) Call(a []any) []any { return []any{c.fn(a[0].(A))} }
func (c *call1x1[A, R]) Call1x1(a0 any) any { return c.fn(a0.(A)) }

// Method1x1 registers the caller for func(A) R.
func Method1x1[T, A, R any](func(T, A) R) {
	add(func(f func(A) R) reflectx.Func { return &call1x1[A, R]{base[func(A) R]{f}} })
}

type call2x1[A, B, R any] struct{ base[func(A, B) R] }

func (c *call2x1[A, B, R]) Call(a []any) []any { return []any{c.fn(a[0].(A), a[1].(B))} }
func (c *call2x1[A, B, R]) Call2x1(a0, a1 any) any {
	return c.fn(a0.(A), a1.(B))
}

// Method2x1 registers the caller for func(A, B) R.
func Method2x1[T, A, B, R any](func(T, A, B) R) {
	add(func(f func(A, B) R) reflectx.Func { return &call2x1[A, B, R]{base[func(A, B) R]{f}} })
}

type call3x1[A, B, C, R any] struct{ base[func(A, B, C) R] }

func (c *call3x1[A, B, C, R]) Call(a []any) []any {
	return []any{c.fn(a[0].(A), a[1].(B), a[2].(C))}
}
func (c *call3x1[A, B, C, R]) Call3x1(a0, a1, a2 any) any {
	return c.fn(a0.(A), a1.(B), a2.(C))
}

// Method3x1 registers the caller for func(A, B, C) R.
func Method3x1[T, A, B, C, R any](func(T, A, B, C) R) {
	add(func(f func(A, B, C) R) reflectx.Func { return &call3x1[A, B, C, R]{base[func(A, B, C) R]{f}} })
}

type call4x1[A, B, C, D, R any] struct{ base[func(A, B, C, D) R] }

func (c *call4x1[A, B, C, D, R]) Call(a []any) []any {
	return []any{c.fn(a[0].(A), a[1].(B), a[2].(C), a[3].(D))}
}
func (c *call4x1[A, B, C, D, R]) Call4x1(a0, a1, a2, a3 any) any {
	return c.fn(a0.(A), a1.(B), a2.(C), a3.(D))
}

// Method4x1 registers the caller for func(A, B, C, D) R.
func Method4x1[T, A, B, C, D, R any](func(T, A, B, C, D) R) {
	add(func(f func(A, B, C, D) R) reflectx.Func {
		return &call4x1[A, B, C, D, R]{base[func(A, B, C, D) R]{f}}
	})
}

type call5x1[A, B, C, D, E, R any] struct{ base[func(A, B, C, D, E) R] }

func (c *call5x1[A, B, C, D, E, R]) Call(a []any) []any {
	return []any{c.fn(a[0].(A), a[1].(B), a[2].(C), a[3].(D), a[4].(E))}
}
func (c *call5x1[A, B, C, D, E, R]) Call5x1(a0, a1, a2, a3, a4 any) any {
	return c.fn(a0.(A), a1.(B), a2.(C), a3.(D), a4.(E))
}

// Method5x1 registers the caller for func(A, B, C, D, E) R.
func Method5x1[T, A, B, C, D, E, R any](func(T, A, B, C, D, E) R) {
	add(func(f func(A, B, C, D, E) R) reflectx.Func {
		return &call5x1[A, B, C, D, E, R]{base[func(A, B, C, D, E) R]{f}}
	})
}

type call6x1[A, B, C, D, E, F, R any] struct {
	base[func(A, B, C, D, E, F) R]
}

func (c *call6x1[A, B, C, D, E, F, R]) Call(a []any) []any {
	return []any{c.fn(a[0].(A), a[1].(B), a[2].(C), a[3].(D), a[4].(E), a[5].(F))}
}
func (c *call6x1[A, B, C, D, E, F, R]) Call6x1(a0, a1, a2, a3, a4, a5 any) any {
	return c.fn(a0.(A), a1.(B), a2.(C), a3.(D), a4.(E), a5.(F))
}

// Method6x1 registers the caller for func(A, B, C, D, E, F) R.
func Method6x1[T, A, B, C, D, E, F, R any](func(T, A, B, C, D, E, F) R) {
	add(func(f func(A, B, C, D, E, F) R) reflectx.Func {
		return &call6x1[A, B, C, D, E, F, R]{base[func(A, B, C, D, E, F) R]{f}}
	})
}

type call7x1[A, B, C, D, E, F, G, R any] struct {
	base[func(A, B, C, D, E, F, G) R]
}

func (c *call7x1[A, B, C, D, E, F, G, R]) Call(a []any) []any {
	return []any{c.fn(a[0].(A), a[1].(B), a[2].(C), a[3].(D), a[4].(E), a[5].(F), a[6].(G))}
}
func (c *call7x1[A, B, C, D, E, F, G, R]) Call7x1(a0, a1, a2, a3, a4, a5, a6 any) any {
	return c.fn(a0.(A), a1.(B), a2.(C), a3.(D), a4.(E), a5.(F), a6.(G))
}

// Method7x1 registers the caller for func(A, B, C, D, E, F, G) R.
func Method7x1[T, A, B, C, D, E, F, G, R any](func(T, A, B, C, D, E, F, G) R) {
	add(func(f func(A, B, C, D, E, F, G) R) reflectx.Func {
		return &call7x1[A, B, C, D, E, F, G, R]{base[func(A, B, C, D, E, F, G) R]{f}}
	})
}
