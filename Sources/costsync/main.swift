print("costsync")
