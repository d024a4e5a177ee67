// Package services holds the integration tests of the catalog services that
// stand on their own (Jupyter, Mosquitto) and of the rendered compose model
// of the whole catalog. It has no code of its own.
package services
