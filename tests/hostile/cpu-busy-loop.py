# hostile: spins forever
# status: fuel_exhausted

while True:
    pass
