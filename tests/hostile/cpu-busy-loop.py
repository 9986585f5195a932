# hostile: spins forever
# status: fuel_exhausted|timeout

while True:
    pass
