package ops

import (
	"fmt"
	"os"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
)

func minTime(reps int, f func()) time.Duration {
	best := time.Hour
	for range reps {
		s := time.Now()
		f()
		if d := time.Since(s); d < best {
			best = d
		}
	}
	return best
}

func TestProbe(t *testing.T) {
	if os.Getenv("PROBE") == "" {
		t.Skip()
	}
	buf := make([]float32, 64<<20)
	for i := range buf {
		buf[i] = 1
	}
	rt := &readTask{buf: buf}
	for round := 0; round < 3; round++ {
		d1 := minTime(5, func() { rt.run(0, 0, len(buf)) })
		d2 := minTime(5, func() { acquirePool(); runLocked(rt, len(buf), 1024); pool.mu.Unlock() })
		fmt.Printf("read 256MiB: 1 thread %.1f GB/s, 2 threads %.1f GB/s\n", 256*1.048576e6/d1.Seconds()/1e9*1e3/1e3, 256*1.048576e6/d2.Seconds()/1e9)
		for _, sh := range qwenShapes {
			wf := patternWeight(sh.rows, sh.cols, false)
			wb := patternWeight(sh.rows, sh.cols, true)
			x, y := patternSlice(sh.cols), make([]float32, sh.rows)
			reps := 20
			if sh.rows > 100000 {
				reps = 4
			}
			gb := func(w *Weight, d time.Duration) float64 { return float64(w.Bytes()) / d.Seconds() / 1e9 }
			df := minTime(reps, func() { wf.MulT(y, x, 1, false) })
			db := minTime(reps, func() { wb.MulT(y, x, 1, false) })
			dblas := minTime(reps, func() { blas32.Sgemv(blas.NoTrans, sh.rows, sh.cols, 1, wf.F32, sh.cols, x, 1, 0, y, 1) })
			df1 := minTime(reps, func() { gemvF32(wf.F32, sh.cols, 0, sh.rows, x, 1, y, sh.rows, false) })
			db1 := minTime(reps, func() { gemvBF16(wb.BF16, sh.cols, 0, sh.rows, x, 1, y, sh.rows, false) })
			fmt.Printf("%dx%d: f32 %.1f GB/s (%v), bf16 %.1f GB/s (%v) speedup %.2fx, blas sgemv %.1f GB/s; 1 thread f32 %.1f bf16 %.1f\n",
				sh.rows, sh.cols, gb(wf, df), df, gb(wb, db), db, df.Seconds()/db.Seconds(), gb(wf, dblas), gb(wf, df1), gb(wb, db1))
		}
	}
}
