package db

import (
	"context"
	"sync"

	"gorm.io/gorm"
)

// A unit of work is carried in the context, so modules can take part in one
// transaction without knowing about each other: orders opens it, calls
// products.Reserve with the same ctx, and both commit or roll back
// together. After a split the same call shape becomes a reservation with
// compensation; nothing in the callee depends on the caller's tables.

type txKey struct{}

type unitOfWork struct {
	tx *gorm.DB
	mu sync.Mutex
	// afterCommit runs once the outermost transaction committed: cache
	// invalidation must not happen before the data it describes is visible.
	afterCommit []func(context.Context)
}

// Transact runs fn inside a transaction. If ctx already carries one, fn
// joins it (no savepoint: a failure anywhere rolls back the whole unit).
// Functions registered with AfterCommit run after the outermost commit.
func Transact(ctx context.Context, base *gorm.DB, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*unitOfWork); ok {
		return fn(ctx)
	}
	// BEGIN is not a GORM statement, so the guard's callbacks do not see
	// it: check the guard here, and classify a failed BEGIN the same way.
	g := guardOf(base)
	if g != nil && !g.Up() {
		return ErrUnavailable
	}
	uow := &unitOfWork{}
	entered := false
	err := base.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		entered = true
		uow.tx = tx
		return fn(context.WithValue(ctx, txKey{}, uow))
	})
	if err != nil {
		if !entered && isConnectionError(err) && ctx.Err() == nil {
			return ErrUnavailable.Wrap(err)
		}
		return err
	}
	for _, f := range uow.afterCommit {
		f(context.WithoutCancel(ctx))
	}
	return nil
}

// Conn returns the transaction carried by ctx, or base bound to ctx.
// Stores call it for every statement so they work inside and outside a
// unit of work.
func Conn(ctx context.Context, base *gorm.DB) *gorm.DB {
	if uow, ok := ctx.Value(txKey{}).(*unitOfWork); ok {
		return uow.tx.WithContext(ctx)
	}
	return base.WithContext(ctx)
}

// InTx reports whether ctx carries a unit of work.
func InTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*unitOfWork)
	return ok
}

// AfterCommit runs f after the unit of work in ctx commits (never if it
// rolls back), or right away when ctx carries none.
func AfterCommit(ctx context.Context, f func(context.Context)) {
	uow, ok := ctx.Value(txKey{}).(*unitOfWork)
	if !ok {
		f(ctx)
		return
	}
	uow.mu.Lock()
	uow.afterCommit = append(uow.afterCommit, f)
	uow.mu.Unlock()
}
